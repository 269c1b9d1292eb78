// Fault injection for the crash tests: DRYDOCK_FAULT_AT=<point>[,<point>…] makes the engine SIGKILL
// its own process right after it reaches that point (a state, committed to SQLite, or a named
// point inside a side effect such as "apply:images"). A real kill of the real process: nothing
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

/**
 * The named points inside the engine's side effects (besides every state of machine.ts), in the
 * order an update reaches them. The crash tests derive their kill points from this list and the
 * state list, so a point added here is a point they must cover.
 */
export const FAULT_POINTS = [
  /** a bundle's blobs are being written into the store (a temp file is half written) */
  'stage:reading',
  'stage:blobs',
  /** releases/<v>.tmp-<pid>/ holds release.json but not yet the manifests */
  'stage:files-partial',
  'stage:files',
  /** the snapshot's data is copied, its snapshot.json not yet written */
  'snapshot:data',
  'snapshot:taken',
  'apply:k3s',
  'apply:images',
  'apply:pre-hooks',
  'apply:manifests',
  'apply:post-hooks',
  'commit:prune',
  'rollback:images',
  'rollback:manifests',
  'rollback:restore',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];
