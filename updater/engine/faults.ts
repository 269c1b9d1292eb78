// Fault injection for the crash tests: DRYDOCK_FAULT_AT=<point>[,<point>…] makes the engine SIGKILL
// its own process right after it reaches that point (a state, committed to SQLite, or a named
// point inside apply/rollback such as "apply:images"). A real kill of the real process: nothing
// after it runs, no finally, no exit handler. Unset (the default), it does nothing.
export type FaultHook = (point: string) => void;

export function envFaults(env: NodeJS.ProcessEnv = process.env): FaultHook {
  const points = new Set(
    (env.DRYDOCK_FAULT_AT ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  if (points.size === 0) return () => {};
  return (point) => {
    if (points.has(point)) process.kill(process.pid, 'SIGKILL');
  };
}

/** The named points inside the engine's side effects (besides every state). */
export const FAULT_POINTS = [
  'stage:blobs',
  'stage:files',
  'snapshot:taken',
  'apply:k3s',
  'apply:images',
  'apply:pre-hooks',
  'apply:manifests',
  'apply:post-hooks',
  'rollback:images',
  'rollback:manifests',
  'rollback:restore',
  'commit:prune',
] as const;
