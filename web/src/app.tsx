// The shell: session, navigation, the live update state shared by every screen.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, currentSession, logout, request, type Session, setUnauthenticatedHandler } from './api.ts';
import { type AppContext, AppContextProvider } from './context.ts';
import { applyEvent, connectEvents, fromStatus, initialLive, isBusy, type Live } from './live.ts';
import { ROUTES, type Route, useRoute } from './route.ts';
import { Overview } from './screens/overview.tsx';
import { PasswordChange } from './screens/password.tsx';
import { Settings } from './screens/settings.tsx';
import { SignIn } from './screens/signin.tsx';
import { Support } from './screens/support.tsx';
import { SoftwareUpdate } from './screens/update.tsx';
import type { BoxStatus, UpdateEvent } from './types.ts';
import { stateLabel } from './words.ts';

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [bootError, setBootError] = useState<string | null>(null);

  useEffect(() => {
    setUnauthenticatedHandler(() => setSession(null));
    currentSession()
      .then(setSession)
      .catch((err: unknown) => {
        setBootError(err instanceof Error ? err.message : String(err));
        setSession(null);
      });
    return () => setUnauthenticatedHandler(null);
  }, []);

  if (session === undefined) {
    return (
      <main class="center" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  }
  if (session === null) return <SignIn initialError={bootError} onSignedIn={setSession} />;
  if (session.mustChange) return <PasswordChange forced session={session} onChanged={(s) => setSession(s)} />;
  return <SignedIn session={session} onSignOut={() => setSession(null)} />;
}

function SignedIn(props: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const [status, setStatus] = useState<BoxStatus | null>(null);
  const [statusError, setStatusError] = useState<string | null>(null);
  const [live, setLive] = useState<Live>(initialLive);
  const mainRef = useRef<HTMLElement>(null);
  const firstRoute = useRef(true);

  const refresh = useCallback(async () => {
    try {
      const s = await request<BoxStatus>('GET', '/status');
      setStatus(s);
      setStatusError(null);
      setLive((l) => fromStatus(l, s));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      setStatusError(err instanceof Error ? err.message : String(err));
    }
  }, []);

  // Events are applied in small batches so a burst of byte progress costs one render.
  useEffect(() => {
    let queue: UpdateEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    let refreshTimer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      if (timer) clearTimeout(timer);
      timer = null;
      const batch = queue;
      queue = [];
      setLive((l) => {
        let next = l;
        for (const ev of batch) {
          next = applyEvent(next, ev);
        }
        return next;
      });
      // a new state means new history, available releases or workload health: re-read /status
      if (batch.some((e) => e.type === 'state')) {
        if (refreshTimer) clearTimeout(refreshTimer);
        refreshTimer = setTimeout(() => void refresh(), 50);
      }
    };
    const stop = connectEvents({
      onEvent: (ev) => {
        queue.push(ev);
        if (ev.type === 'state') flush();
        else if (!timer) timer = setTimeout(flush, 16);
      },
      onSnapshot: (s) => {
        setStatus(s);
        setStatusError(null);
        setLive((l) => fromStatus(l, s, true));
      },
      onOpen: () => setLive((l) => ({ ...l, dropped: false })),
      // until the next snapshot, /status reads are the freshest state there is
      onDrop: () => setLive((l) => ({ ...l, dropped: true, streamed: false })),
    });
    void refresh();
    // disk and workload health change without update events
    const poll = setInterval(() => void refresh(), 15_000);
    return () => {
      stop();
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      if (refreshTimer) clearTimeout(refreshTimer);
    };
  }, [refresh]);

  // Move focus to the new screen's heading when the admin navigates (not on the first load).
  useEffect(() => {
    if (firstRoute.current) {
      firstRoute.current = false;
      return;
    }
    mainRef.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [route]);

  const running = isBusy(live.state);
  const ctx: AppContext = { session: props.session, status, live, running, refresh, statusError };
  const name = status?.running?.name ?? 'Appliance';
  useEffect(() => {
    document.title = `${name} – administration`;
  }, [name]);

  const signOut = async () => {
    try {
      await logout();
    } finally {
      props.onSignOut();
    }
  };

  return (
    <div class="layout">
      <button
        type="button"
        class="skip"
        onClick={() => mainRef.current?.querySelector<HTMLElement>('h1')?.focus()}
      >
        Skip to content
      </button>
      <header class="top">
        <div class="brand">
          <span class="brand-name">{name}</span>
          {status?.running && <span class="brand-version">version {status.running.version}</span>}
        </div>
        <nav aria-label="Main">
          <ul class="nav-list">
            {ROUTES.map((r) => (
              <li key={r.route}>
                <a href={r.hash} aria-current={r.route === route ? 'page' : undefined}>
                  {r.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span class="who-name">{props.session.username}</span>
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      {running && route !== 'update' && (
        <div class="banner" role="status">
          {isBusy(live.state) ? stateLabel(live.state) : 'Updating'}
          {live.target ? ` ${live.target.version}` : ''}…{' '}
          <a href="#/update">Follow the progress in Software Update</a>
        </div>
      )}
      {live.dropped && (
        <div class="banner warn" role="status">
          Live progress is reconnecting. What you see may be a few seconds old.
        </div>
      )}
      {statusError && (
        <div class="banner error" role="alert">
          {statusError}
        </div>
      )}
      <main id="main" ref={mainRef}>
        <AppContextProvider.Provider value={ctx}>
          <Screen route={route} />
        </AppContextProvider.Provider>
      </main>
    </div>
  );
}

function Screen(props: { route: Route }) {
  switch (props.route) {
    case 'update':
      return <SoftwareUpdate />;
    case 'settings':
      return <Settings />;
    case 'support':
      return <Support />;
    default:
      return <Overview />;
  }
}
