// Password change: forced at first sign-in when the password came from a default (mustChange),
// and available on the Settings screen.
import { useState } from 'preact/hooks';
import { currentSession, request, type Session, setCsrfToken, toSession } from '../api.ts';

export const MIN_PASSWORD = 12;

export function PasswordForm(props: { forced?: boolean; onChanged: () => void | Promise<void> }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [pending, setPending] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone(false);
    if (next.length < MIN_PASSWORD) return setError(`Use at least ${MIN_PASSWORD} characters.`);
    if (next !== again) return setError('The two new passwords differ. Type the same password twice.');
    if (next === current) return setError('Choose a password different from the current one.');
    setPending(true);
    try {
      // the service ends every session with the change and hands this page a fresh one
      const renewed = toSession(
        await request('POST', '/password', { currentPassword: current, newPassword: next }),
      );
      if (renewed.csrfToken) setCsrfToken(renewed.csrfToken);
      setCurrent('');
      setNext('');
      setAgain('');
      setDone(true);
      await props.onChanged();
    } catch (err) {
      const code = (err as { code?: string }).code;
      setError(
        code === 'UNAUTHENTICATED' || code === 'FORBIDDEN'
          ? 'The current password is wrong. Type the password you signed in with.'
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setPending(false);
    }
  };

  const id = props.forced ? 'forced' : 'settings';
  return (
    <form onSubmit={submit} class="stack" noValidate>
      {/* lets password managers file the new password under the right account */}
      <input type="text" name="username" autocomplete="username" value="admin" readOnly hidden />
      <label for={`${id}-current`}>Current password</label>
      <input
        id={`${id}-current`}
        type="password"
        autocomplete="current-password"
        required
        value={current}
        onInput={(e) => setCurrent(e.currentTarget.value)}
      />
      <label for={`${id}-new`}>New password</label>
      <input
        id={`${id}-new`}
        type="password"
        autocomplete="new-password"
        required
        minLength={MIN_PASSWORD}
        aria-describedby={`${id}-hint`}
        value={next}
        onInput={(e) => setNext(e.currentTarget.value)}
      />
      <p id={`${id}-hint`} class="hint">
        At least {MIN_PASSWORD} characters.
      </p>
      <label for={`${id}-again`}>New password again</label>
      <input
        id={`${id}-again`}
        type="password"
        autocomplete="new-password"
        required
        value={again}
        onInput={(e) => setAgain(e.currentTarget.value)}
      />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {done && !props.forced && (
        <p class="ok" role="status">
          Password changed.
        </p>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={pending}>
          {pending ? 'Saving…' : 'Change password'}
        </button>
      </div>
    </form>
  );
}

export function PasswordChange(props: {
  forced: boolean;
  session: Session;
  onChanged: (s: Session) => void;
}) {
  return (
    <main class="center">
      <section class="card narrow" aria-labelledby="pw-title">
        <h1 id="pw-title">Choose a new password</h1>
        <p>
          This appliance was deployed with a default password. Choose your own before you continue; the old
          one stops working.
        </p>
        <PasswordForm
          forced
          onChanged={async () => {
            const s = await currentSession();
            props.onChanged(s ?? { ...props.session, mustChange: false });
          }}
        />
      </section>
    </main>
  );
}
