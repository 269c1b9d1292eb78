// Software Update: running version, check, available releases with notes, one-click update with a
// confirmation, live progress and outcome, roll back, offline bundle upload, history.
import { useRef, useState } from 'preact/hooks';
import { ApiError, request, upload } from '../api.ts';
import { ConfirmDialog } from '../components/dialog.tsx';
import { MarkdownView } from '../components/markdown-view.tsx';
import { AutoRollbackAccount, RollbackSteps, UpdateSteps } from '../components/progress.tsx';
import { type AppContext, useAppContext } from '../context.ts';
import { plainMessage } from '../errors.ts';
import { formatAgo, formatBytes, formatDuration, formatMs, formatTime, percent } from '../format.ts';
import type { BoxStatus, HistoryEntry, ReleaseSummary } from '../types.ts';
import { kindLabel, outcomeLabel, stateLabel } from '../words.ts';

type Confirm = { kind: 'update'; release: ReleaseSummary } | { kind: 'rollback' } | null;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Outcomes the progress panel already explains; no second error box for them. */
const EXPLAINED = new Set(['UPDATE_ROLLED_BACK', 'HEALTH_TIMEOUT', 'APPLY_FAILED']);

async function waitForStaged(version: string): Promise<void> {
  // The service may answer the download request before the blobs are in; wait for "staged".
  for (;;) {
    const s = await request<BoxStatus>('GET', '/status');
    if (s.state === 'staged' && (!s.target || s.target.version === version)) return;
    if (s.state === 'failed' || s.state === 'idle' || s.state === 'available')
      throw s.lastError
        ? new ApiError(s.lastError.code, 500, plainMessage(s.lastError.code, s.lastError.message, 500))
        : new ApiError(
            'UPDATE_CANCELLED',
            409,
            `The download of ${version} was cancelled. Nothing was installed.`,
          );
    await new Promise((r) => setTimeout(r, 300));
  }
}

export function SoftwareUpdate() {
  const ctx = useAppContext();
  const { status, live } = ctx;
  const [pending, setPending] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<Confirm>(null);
  // what the last upload verified: the release the "Install now" confirmation describes
  const [uploaded, setUploaded] = useState<ReleaseSummary | null>(null);
  const progressRef = useRef<HTMLElement>(null);
  const disabled = ctx.running || pending !== null;

  const run = async (name: string, fn: () => Promise<void>) => {
    setPending(name);
    setError(null);
    setNotice(null);
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof ApiError && EXPLAINED.has(err.code))) setError(message(err));
    } finally {
      setPending(null);
      await ctx.refresh();
    }
  };

  const check = () =>
    run('check', async () => {
      const found = await request<ReleaseSummary[] | { releases?: ReleaseSummary[] }>(
        'POST',
        '/update/check',
        {},
      );
      const list = Array.isArray(found) ? found : (found?.releases ?? []);
      const n = list.filter((r) => r.installable).length;
      setNotice(
        n ? `${n} update(s) available.` : 'No newer release is available. This appliance is up to date.',
      );
    });

  const update = (release: ReleaseSummary) =>
    run('update', async () => {
      // focus follows the work: the progress panel announces each step
      requestAnimationFrame(() => progressRef.current?.focus());
      const staged = ctx.status?.state === 'staged' && ctx.status.target?.version === release.version;
      if (!staged) {
        await request('POST', '/update/download', { version: release.version });
        await waitForStaged(release.version);
      }
      await request('POST', '/update/apply', {});
    });

  const rollback = () =>
    run('rollback', async () => {
      requestAnimationFrame(() => progressRef.current?.focus());
      await request('POST', '/update/rollback', {});
    });

  const cancel = () => run('cancel', () => request('POST', '/update/cancel', {}));

  const latest = status?.history[0] ?? null;
  const lastAuto = status?.history.find((h) => h.outcome !== 'in-progress') ?? null;
  const showAuto = lastAuto?.automatic && lastAuto.outcome === 'rolled-back' ? lastAuto : null;
  const stagedRelease =
    live.state === 'staged' && live.target
      ? (status?.available.find((r) => r.version === live.target?.version) ??
        (uploaded?.version === live.target.version ? uploaded : null))
      : null;

  return (
    <>
      <h1 tabIndex={-1}>Software Update</h1>
      {error && (
        <div class="callout error" role="alert" data-testid="update-error">
          {error}
        </div>
      )}
      {notice && (
        <p class="callout ok" role="status" data-testid="update-notice">
          {notice}
        </p>
      )}
      {showAuto && live.state === 'rolled-back' && <AutoRollbackAccount entry={showAuto} />}

      <section class="card" aria-labelledby="su-running">
        <h2 id="su-running">This appliance</h2>
        <p class="big">
          <span data-testid="su-version">{status?.running ? status.running.version : '–'}</span>{' '}
          <span class="muted small">{status?.running?.name}</span>
        </p>
        <p class="small muted">
          State: <span data-testid="su-state">{stateLabel(live.state)}</span> · Last check:{' '}
          {status?.lastCheck ? formatAgo(status.lastCheck.at) : 'never'}
          {status?.lastCheck?.result === 'error' && (
            <span class="error"> (failed: {status.lastCheck.message})</span>
          )}
        </p>
        <div class="actions left">
          <button type="button" onClick={check} disabled={disabled}>
            {pending === 'check' ? 'Checking…' : 'Check for updates'}
          </button>
        </div>
      </section>

      <section
        class="card progress-card"
        aria-labelledby="su-progress"
        ref={progressRef}
        tabIndex={-1}
        hidden={!showProgress(live.state, pending, latest)}
        data-testid="progress"
      >
        <h2 id="su-progress">{progressTitle(ctx, pending)}</h2>
        <div aria-live="polite">
          {isRollbackView(live, pending) ? <RollbackSteps live={live} /> : <UpdateSteps live={live} />}
          {ctx.running && live.logs.length > 0 && (
            <ul class="log small muted" aria-label="Latest messages from the updater">
              {live.logs.slice(-3).map((l) => (
                <li key={`${l.at}-${l.message}`} class={l.level === 'info' ? undefined : 'warn-text'}>
                  {l.message}
                </li>
              ))}
            </ul>
          )}
          <Outcome ctx={ctx} latest={latest} />
        </div>
        {live.state === 'staged' && (
          <div class="actions left">
            <button
              type="button"
              class="primary"
              disabled={disabled}
              onClick={() =>
                setConfirm({
                  kind: 'update',
                  release: stagedRelease ?? stagedFallback(live.target?.version ?? '', status),
                })
              }
            >
              Install {live.target?.version} now
            </button>
            <button type="button" disabled={disabled} onClick={cancel}>
              Discard
            </button>
          </div>
        )}
        {live.state === 'downloading' && (
          <div class="actions left">
            <button type="button" onClick={cancel}>
              Cancel the download
            </button>
          </div>
        )}
      </section>

      <section class="card" aria-labelledby="su-available">
        <h2 id="su-available">Available releases</h2>
        {!status || status.available.length === 0 ? (
          <p class="muted">
            No release is waiting. Use “Check for updates” or upload an offline bundle below.
          </p>
        ) : (
          <ul class="releases">
            {status.available.map((r) => (
              <li key={r.version} class="release" data-version={r.version}>
                <div class="release-head">
                  <h3>
                    {r.name} {r.version}
                  </h3>
                  <span class="muted small">channel {r.channel}</span>
                </div>
                <dl class="facts small">
                  <dt>Download</dt>
                  <dd>
                    {r.downloadBytes > 0
                      ? `${formatBytes(r.downloadBytes)} of ${formatBytes(r.totalBytes)}`
                      : 'nothing (already on the appliance)'}
                  </dd>
                  <dt>Expected downtime</dt>
                  <dd>up to {formatDuration(r.deadlineSeconds)}</dd>
                  {r.k3sVersion && (
                    <>
                      <dt>Kubernetes</dt>
                      <dd>{r.k3sVersion}</dd>
                    </>
                  )}
                  {r.changesData && (
                    <>
                      <dt>Data</dt>
                      <dd>changes stored data (a snapshot is restored on rollback)</dd>
                    </>
                  )}
                </dl>
                {r.notes && (
                  <details open>
                    <summary>Release notes</summary>
                    <MarkdownView source={r.notes} />
                  </details>
                )}
                {!r.installable && r.reason && <p class="muted small">Cannot be installed: {r.reason}</p>}
                <div class="actions left">
                  <button
                    type="button"
                    class="primary"
                    disabled={disabled || !r.installable}
                    onClick={() => setConfirm({ kind: 'update', release: r })}
                  >
                    Update now
                  </button>
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section class="card" aria-labelledby="su-rollback">
        <h2 id="su-rollback">Roll back</h2>
        {status?.previous ? (
          <>
            <p>
              The previous release, <strong>{status.previous.version}</strong>, is kept on the appliance.
            </p>
            <div class="actions left">
              <button
                type="button"
                class="danger"
                disabled={disabled}
                onClick={() => setConfirm({ kind: 'rollback' })}
              >
                {rollbackLabel(status.previous.version, status.running?.version)}
              </button>
            </div>
          </>
        ) : (
          <p class="muted">No earlier release is kept on this appliance yet.</p>
        )}
      </section>

      <UploadCard
        disabled={disabled}
        onDone={ctx.refresh}
        onStart={() => setError(null)}
        onStaged={setUploaded}
      />

      <section class="card" aria-labelledby="su-history">
        <h2 id="su-history">History</h2>
        {!status || status.history.length === 0 ? (
          <p class="muted">No updates yet.</p>
        ) : (
          <ol class="history">
            {status.history.map((h) => (
              <HistoryItem key={h.id} h={h} />
            ))}
          </ol>
        )}
      </section>

      <ConfirmDialog
        open={confirm !== null}
        title={
          confirm?.kind === 'update'
            ? `Update to ${confirm.release.version}?`
            : `${rollbackLabel(status?.previous?.version ?? 'the previous release', status?.running?.version)}?`
        }
        confirmLabel={confirm?.kind === 'update' ? `Update to ${confirm.release.version}` : 'Roll back'}
        danger={confirm?.kind === 'rollback'}
        onCancel={() => setConfirm(null)}
        onConfirm={() => {
          const c = confirm;
          setConfirm(null);
          if (c?.kind === 'update') void update(c.release);
          else if (c?.kind === 'rollback') void rollback();
        }}
      >
        {confirm?.kind === 'update' ? (
          <UpdateExplanation release={confirm.release} running={status?.running?.version ?? null} />
        ) : confirm?.kind === 'rollback' ? (
          <ul>
            <li>
              The appliance goes back to {status?.previous?.version} (now running {status?.running?.version}).
            </li>
            <li>
              If the update changed stored data, the snapshot taken before it is restored; changes since then
              are lost.
            </li>
            <li>
              The backend may be unavailable for a short while, until the previous release is healthy again.
            </li>
          </ul>
        ) : null}
      </ConfirmDialog>
    </>
  );
}

/** Numeric x.y.z comparison, enough to word the button (the engine decides what is allowed). */
function newer(a: string, b: string | undefined): boolean {
  if (!b) return false;
  const pa = a.split(/[.+-]/).map(Number);
  const pb = b.split(/[.+-]/).map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) > (pb[i] ?? 0);
  return false;
}

function rollbackLabel(previous: string, running: string | undefined): string {
  // after a rollback the retained release is the newer one: going there is a return, not a rollback
  return newer(previous, running) ? `Return to ${previous}` : `Roll back to ${previous}`;
}

function stagedFallback(version: string, status: BoxStatus | null): ReleaseSummary {
  return {
    name: status?.target?.name ?? status?.running?.name ?? '',
    version,
    channel: '',
    upgradeFrom: '',
    notes: '',
    downloadBytes: 0,
    totalBytes: 0,
    deadlineSeconds: 0,
    changesData: false,
    installable: true,
  };
}

function UpdateExplanation(props: { release: ReleaseSummary; running: string | null }) {
  const r = props.release;
  return (
    <ul>
      <li data-testid="confirm-download">
        {r.downloadBytes > 0
          ? `Downloads ${formatBytes(r.downloadBytes)} and checks its signatures.`
          : 'Nothing to download: the release is already on the appliance and verified.'}
      </li>
      <li>Takes a snapshot of the running release{r.changesData ? ' and its data' : ''} first.</li>
      <li data-testid="confirm-downtime">
        The backend may be unavailable for up to{' '}
        {r.deadlineSeconds ? formatDuration(r.deadlineSeconds) : 'a few minutes'} while {r.version} starts.
      </li>
      <li>
        If {r.version} is not healthy by then, the appliance goes back to{' '}
        {props.running ?? 'the running release'} on its own.
      </li>
      {r.changesData && <li>This release changes stored data.</li>}
    </ul>
  );
}

function showProgress(state: string, pending: string | null, latest: HistoryEntry | null): boolean {
  // the first install (box init) ends "committed" too, but there is no update to report on
  if (state === 'committed' && latest?.kind === 'install' && pending === null) return false;
  return (
    (pending !== null && pending !== 'check' && pending !== 'cancel') ||
    (state !== 'idle' && state !== 'available')
  );
}

function isRollbackView(live: AppContext['live'], pending: string | null): boolean {
  if (pending === 'rollback') return true;
  return live.operation === 'rollback' && live.state !== 'staged' && live.state !== 'downloading';
}

function progressTitle(ctx: AppContext, pending: string | null): string {
  const { live } = ctx;
  const v = live.target?.version ?? '';
  switch (live.state) {
    case 'downloading':
    case 'snapshotting':
    case 'applying':
    case 'verifying-health':
      return `Updating to ${v}`;
    case 'staged':
      return `${v} is downloaded and verified`;
    case 'committed':
      return `Updated to ${v}`;
    case 'rolling-back':
      return live.operation === 'rollback' ? `Rolling back to ${v}` : `Rolling back from ${v}`;
    case 'rolled-back':
      return live.operation === 'rollback' ? `Rolled back to ${v}` : `${v} was rolled back`;
    case 'failed':
      return v ? `The update to ${v} failed` : 'The last operation failed';
    default:
      return pending === 'rollback' ? 'Rolling back' : pending ? 'Starting…' : '';
  }
}

function Outcome(props: { ctx: AppContext; latest: HistoryEntry | null }) {
  const { live, status } = props.ctx;
  const h = props.latest;
  if (live.state === 'committed')
    return (
      <p class="ok" data-testid="outcome" data-outcome="committed">
        {live.target?.version} is installed and healthy.
      </p>
    );
  if (live.state === 'rolled-back' && live.operation === 'rollback')
    return (
      <p class="ok" data-testid="outcome" data-outcome="rolled-back" data-operation="rollback">
        The appliance runs {status?.running?.version ?? live.target?.version} again and it is healthy.
      </p>
    );
  if (live.state === 'rolled-back')
    return (
      <p class="warn-text" data-testid="outcome" data-outcome="rolled-back">
        {h?.automatic ? 'Rolled back automatically. ' : 'Rolled back. '}
        {live.reason ?? h?.reason ?? ''} The appliance runs{' '}
        {status?.running?.version ?? 'the previous release'}.
      </p>
    );
  if (live.state === 'failed')
    return (
      <p class="error" data-testid="outcome" data-outcome="failed">
        {live.reason ?? status?.lastError?.message ?? h?.reason ?? 'The operation failed.'} The running
        release was not changed unless the history says otherwise. Fix the cause, then try again, or download
        a support bundle.
      </p>
    );
  return null;
}

function HistoryItem({ h }: { h: HistoryEntry }) {
  const steps = Object.entries(h.steps ?? {});
  return (
    <li class={`hist hist-${h.outcome}${h.automatic ? ' hist-auto' : ''}`} data-history-id={h.id}>
      <div class="hist-head">
        <strong>{h.fromVersion ? `${h.fromVersion} → ${h.toVersion}` : h.toVersion}</strong>
        <span class="muted small">{kindLabel(h)}</span>
        <span class={`badge badge-${h.outcome}`}>{outcomeLabel(h)}</span>
      </div>
      {h.reason && (
        <p class="small">
          {h.automatic ? 'Rolled back automatically because: ' : 'Reason: '}
          {h.reason}
        </p>
      )}
      <p class="small muted">
        {formatTime(h.startedAt)}
        {h.finishedAt ? ` – ${formatTime(h.finishedAt)}` : ''} · by {h.actor}
        {steps.length > 0 && ` · ${steps.map(([k, ms]) => `${k} ${formatMs(ms)}`).join(', ')}`}
      </p>
    </li>
  );
}

function UploadCard(props: {
  disabled: boolean;
  onDone: () => Promise<void>;
  onStart: () => void;
  onStaged: (r: ReleaseSummary | null) => void;
}) {
  const [file, setFile] = useState<File | null>(null);
  const [sent, setSent] = useState<{ done: number; total: number } | null>(null);
  const [phase, setPhase] = useState<'idle' | 'uploading' | 'verifying'>('idle');
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);

  const start = async (e: Event) => {
    e.preventDefault();
    if (!file) return setError('Choose a bundle file first.');
    props.onStart();
    setError(null);
    setResult(null);
    setPhase('uploading');
    setSent({ done: 0, total: file.size });
    const job = upload<ReleaseSummary | { release?: ReleaseSummary }>('/bundles', file, (done, total) => {
      setSent({ done, total });
      if (done >= total) setPhase('verifying');
    });
    try {
      const res = await job.promise;
      const r = (res && 'version' in res ? res : (res as { release?: ReleaseSummary })?.release) ?? null;
      props.onStaged(r);
      setResult(
        r
          ? `${r.name} ${r.version} is verified and ready to install. Use “Install ${r.version} now” above.`
          : 'The bundle is verified and ready to install.',
      );
      setFile(null);
      if (inputRef.current) inputRef.current.value = '';
    } catch (err) {
      setError(message(err));
    } finally {
      setPhase('idle');
      await props.onDone();
    }
  };

  const pct = sent ? percent(sent.done, sent.total) : null;
  return (
    <section class="card" aria-labelledby="su-upload">
      <h2 id="su-upload">Offline update</h2>
      <p class="small muted">
        No Internet on this appliance? Upload a release bundle (.drydock file) from your vendor. It is checked
        against the vendor’s signatures before anything is installed.
      </p>
      <form onSubmit={start} class="upload">
        <label for="bundle-file">Bundle file</label>
        <input
          id="bundle-file"
          ref={inputRef}
          type="file"
          accept=".drydock,application/octet-stream"
          disabled={props.disabled || phase !== 'idle'}
          onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)}
        />
        <div class="actions left">
          <button type="submit" disabled={props.disabled || phase !== 'idle' || !file}>
            {phase === 'uploading' ? 'Uploading…' : phase === 'verifying' ? 'Verifying…' : 'Upload'}
          </button>
        </div>
      </form>
      {phase !== 'idle' && sent && (
        <div role="status" data-testid="upload-progress">
          <p class="small">
            {phase === 'verifying'
              ? `Uploaded ${formatBytes(sent.total)}. Checking signatures and checksums…`
              : `Uploaded ${formatBytes(sent.done)} of ${formatBytes(sent.total)}${pct !== null ? ` (${pct}%)` : ''}`}
          </p>
          <progress
            max={100}
            value={phase === 'verifying' ? undefined : (pct ?? 0)}
            aria-label="Upload progress"
          />
        </div>
      )}
      {error && (
        <p class="callout error" role="alert" data-testid="upload-error">
          {error}
        </p>
      )}
      {result && (
        <p class="callout ok" role="status" data-testid="upload-result">
          {result}
        </p>
      )}
    </section>
  );
}
