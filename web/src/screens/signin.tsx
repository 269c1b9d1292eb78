import { useState } from 'preact/hooks';
import { login, type Session } from '../api.ts';

export function SignIn(props: { initialError: string | null; onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(props.initialError);
  const [pending, setPending] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setPending(true);
    setError(null);
    try {
      props.onSignedIn(await login(username.trim(), password));
    } catch (err) {
      const code = (err as { code?: string }).code;
      setError(
        code === 'UNAUTHENTICATED'
          ? 'The user name or password is wrong. Check them and try again. The first password was set when the appliance was deployed (OVF property, EC2 user data, or the instance ID on AWS).'
          : err instanceof Error
            ? err.message
            : String(err),
      );
      setPending(false);
    }
  };

  return (
    <main class="center">
      <form class="card narrow" onSubmit={submit} aria-describedby={error ? 'signin-error' : undefined}>
        <h1>Sign in</h1>
        <p class="muted">Administration of this appliance.</p>
        <label for="username">User name</label>
        <input
          id="username"
          name="username"
          autocomplete="username"
          required
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          autofocus
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {error && (
          <p id="signin-error" class="error" role="alert">
            {error}
          </p>
        )}
        <div class="actions">
          <button type="submit" class="primary" disabled={pending}>
            {pending ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
    </main>
  );
}
