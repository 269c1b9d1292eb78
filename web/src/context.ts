// What every signed-in screen reads: the session, the box's status and the live update state. The
// shell (app.tsx) provides it and the screens read it with useAppContext(), so screens never
// import the shell that imports them.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Session } from './api.ts';
import type { Live } from './live.ts';
import type { BoxStatus } from './types.ts';

export interface AppContext {
  session: Session;
  status: BoxStatus | null;
  live: Live;
  /** an update or rollback runs on the box: mutations wait */
  running: boolean;
  refresh: () => Promise<void>;
  statusError: string | null;
}

export const AppContextProvider = createContext<AppContext | null>(null);

/** The signed-in shell's context; a screen rendered outside the shell is a programming error. */
export function useAppContext(): AppContext {
  const ctx = useContext(AppContextProvider);
  if (!ctx) throw new Error('useAppContext: rendered outside the signed-in shell');
  return ctx;
}
