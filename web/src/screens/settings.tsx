// Settings: update channel, check schedule, auto-stage, maintenance window; TLS certificate; password.
import { useEffect, useState } from 'preact/hooks';
import { request } from '../api.ts';
import { useAppContext } from '../context.ts';
import { formatTime } from '../format.ts';
import type { Settings as SettingsData } from '../types.ts';
import { PasswordForm } from './password.tsx';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const DAY_NAMES: Record<string, string> = {
  mon: 'Monday',
  tue: 'Tuesday',
  wed: 'Wednesday',
  thu: 'Thursday',
  fri: 'Friday',
  sat: 'Saturday',
  sun: 'Sunday',
};

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function Settings() {
  const ctx = useAppContext();
  return (
    <>
      <h1 tabIndex={-1}>Settings</h1>
      <UpdateSettings running={ctx.running} />
      <TlsCard />
      <section class="card" aria-labelledby="set-pw">
        <h2 id="set-pw">Password</h2>
        <PasswordForm onChanged={() => undefined} />
      </section>
    </>
  );
}

function UpdateSettings(props: { running: boolean }) {
  const [s, setS] = useState<SettingsData | null>(null);
  // what the service last said: only the fields that differ from it are sent (PUT takes a patch)
  const [saved0, setSaved0] = useState<SettingsData | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [pending, setPending] = useState(false);
  const [windowOn, setWindowOn] = useState(false);
  const [win, setWin] = useState({ days: ['sat', 'sun'] as string[], start: '02:00', end: '05:00' });

  useEffect(() => {
    request<SettingsData>('GET', '/settings')
      .then((data) => {
        setS(data);
        setSaved0(data);
        setWindowOn(data.maintenanceWindow !== null);
        if (data.maintenanceWindow) setWin(data.maintenanceWindow);
      })
      .catch((err: unknown) => setLoadError(message(err)));
  }, []);

  if (loadError)
    return (
      <section class="card">
        <h2>Updates</h2>
        <p class="error" role="alert">
          {loadError}
        </p>
      </section>
    );
  if (!s)
    return (
      <section class="card" aria-busy="true">
        <h2>Updates</h2>
        <p>Loading…</p>
      </section>
    );

  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    if (windowOn && win.days.length === 0)
      return setError('Choose at least one day for the maintenance window.');
    if (windowOn && win.start === win.end)
      return setError('The maintenance window must not start and end at the same time.');
    const body: SettingsData = {
      channelUrl: s.channelUrl?.trim() ? s.channelUrl.trim() : null,
      checkSchedule: s.checkSchedule.trim(),
      autoStage: s.autoStage,
      autoApply: windowOn && s.autoApply,
      maintenanceWindow: windowOn ? win : null,
    };
    const patch: Partial<SettingsData> = {};
    for (const k of Object.keys(body) as (keyof SettingsData)[])
      if (JSON.stringify(body[k]) !== JSON.stringify(saved0?.[k])) Object.assign(patch, { [k]: body[k] });
    if (Object.keys(patch).length === 0) return setSaved(true);
    setPending(true);
    try {
      const next = await request<SettingsData>('PUT', '/settings', patch);
      if (next && typeof next === 'object' && 'checkSchedule' in next) {
        setS(next);
        setSaved0(next);
      }
      setSaved(true);
    } catch (err) {
      setError(message(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <section class="card" aria-labelledby="set-updates">
      <h2 id="set-updates">Updates</h2>
      <form onSubmit={save} class="stack">
        <label for="channel">Update channel address</label>
        <input
          id="channel"
          type="url"
          inputMode="url"
          placeholder="https://updates.example.com/stable"
          aria-describedby="channel-hint"
          value={s.channelUrl ?? ''}
          onInput={(e) => setS({ ...s, channelUrl: e.currentTarget.value })}
        />
        <p id="channel-hint" class="hint">
          Where the appliance looks for signed releases. Leave empty for offline use (upload bundles instead).
        </p>

        <label for="schedule">Check schedule</label>
        <input
          id="schedule"
          required
          aria-describedby="schedule-hint"
          value={s.checkSchedule}
          onInput={(e) => setS({ ...s, checkSchedule: e.currentTarget.value })}
        />
        <p id="schedule-hint" class="hint">
          A cron expression in the appliance’s time, e.g. <code>0 3 * * *</code> for every day at 03:00.
        </p>

        <label class="check">
          <input
            type="checkbox"
            checked={s.autoStage}
            onChange={(e) => setS({ ...s, autoStage: e.currentTarget.checked })}
          />
          Download and verify new releases automatically (they are installed only when you choose)
        </label>

        <fieldset>
          <legend>Maintenance window</legend>
          <label class="check">
            <input
              type="checkbox"
              checked={windowOn}
              onChange={(e) => setWindowOn(e.currentTarget.checked)}
            />
            Only allow automatic installation inside a maintenance window
          </label>
          {windowOn && (
            <>
              <fieldset class="days">
                <legend class="visually-hidden">Days</legend>
                {DAYS.map((d) => (
                  <label class="check" key={d}>
                    <input
                      type="checkbox"
                      checked={win.days.includes(d)}
                      onChange={(e) =>
                        setWin({
                          ...win,
                          days: e.currentTarget.checked
                            ? DAYS.filter((x) => x === d || win.days.includes(x))
                            : win.days.filter((x) => x !== d),
                        })
                      }
                    />
                    {DAY_NAMES[d]}
                  </label>
                ))}
              </fieldset>
              <div class="row">
                <span>
                  <label for="win-start">From</label>
                  <input
                    id="win-start"
                    type="time"
                    required
                    value={win.start}
                    onInput={(e) => setWin({ ...win, start: e.currentTarget.value })}
                  />
                </span>
                <span>
                  <label for="win-end">Until</label>
                  <input
                    id="win-end"
                    type="time"
                    required
                    value={win.end}
                    onInput={(e) => setWin({ ...win, end: e.currentTarget.value })}
                  />
                </span>
              </div>
              <label class="check">
                <input
                  type="checkbox"
                  checked={s.autoApply}
                  onChange={(e) => setS({ ...s, autoApply: e.currentTarget.checked })}
                />
                Install downloaded releases automatically inside the window
              </label>
            </>
          )}
        </fieldset>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {saved && (
          <p class="ok" role="status">
            Settings saved.
          </p>
        )}
        <div class="actions">
          <button type="submit" class="primary" disabled={pending || props.running}>
            {pending ? 'Saving…' : 'Save settings'}
          </button>
        </div>
      </form>
    </section>
  );
}

interface CertificateInfo {
  subject: string;
  names: string[];
  ips: string[];
  notAfter: string;
  selfSigned: boolean;
  fingerprint256: string;
}

function describeCert(c: CertificateInfo): string {
  const who = [...c.names, ...c.ips].join(', ') || c.subject;
  return `${c.selfSigned ? 'Self-signed certificate' : 'Certificate'} for ${who}, valid until ${formatTime(c.notAfter)}.`;
}

function TlsCard() {
  const [cert, setCert] = useState<File | null>(null);
  const [key, setKey] = useState<File | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [pending, setPending] = useState(false);
  const [current, setCurrent] = useState<CertificateInfo | null>(null);

  useEffect(() => {
    request<CertificateInfo>('GET', '/tls')
      .then(setCurrent)
      .catch(() => setCurrent(null));
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone(false);
    if (!cert || !key) return setError('Choose both the certificate file and its private key file.');
    if (cert.size > 256 * 1024 || key.size > 256 * 1024)
      return setError('These files are too large for a certificate and key. Choose PEM files.');
    setPending(true);
    try {
      setCurrent(
        await request<CertificateInfo>('PUT', '/tls', {
          certificate: await cert.text(),
          key: await key.text(),
        }),
      );
      setDone(true);
    } catch (err) {
      setError(message(err));
    } finally {
      setPending(false);
    }
  };

  return (
    <section class="card" aria-labelledby="set-tls">
      <h2 id="set-tls">HTTPS certificate</h2>
      <p class="small muted">
        The appliance made a self-signed certificate at first start. Replace it with one your browsers trust:
        a PEM certificate (with its chain) and the matching unencrypted private key.
      </p>
      {current && (
        <p data-testid="tls-current">
          In use: {describeCert(current)}{' '}
          <span class="muted small">SHA-256 {current.fingerprint256.slice(0, 23)}…</span>
        </p>
      )}
      <form onSubmit={submit} class="stack">
        <label for="tls-cert">Certificate (PEM)</label>
        <input
          id="tls-cert"
          type="file"
          accept=".pem,.crt,.cer"
          onChange={(e) => setCert(e.currentTarget.files?.[0] ?? null)}
        />
        <label for="tls-key">Private key (PEM)</label>
        <input
          id="tls-key"
          type="file"
          accept=".pem,.key"
          onChange={(e) => setKey(e.currentTarget.files?.[0] ?? null)}
        />
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {done && (
          <p class="ok" role="status">
            Certificate installed. New connections use it at once.
          </p>
        )}
        <div class="actions">
          <button type="submit" disabled={pending}>
            {pending ? 'Uploading…' : 'Upload certificate'}
          </button>
        </div>
      </form>
    </section>
  );
}
