// The one way the drivers run programs (k3s, kubectl, ctr, umoci, nsenter): core's exec (one result
// shape for every part). Injected, so tests can point the driver at Debian's containerd instead of
// k3s's, or record what would be run.
import { type Exec, type ExecResult, exec } from '../../core/exec.ts';

export type { ExecResult };
export type ExecFn = Exec;

/** Runs a program; resolves with its exit code and output (never rejects on a non-zero exit). */
export const defaultExec: ExecFn = exec;

/** Bytes under a folder as `du` counts them (apparent sizes: what a copy writes); 0 when unreadable. */
export async function duBytes(exec: ExecFn, folder: string): Promise<number> {
  const r = await exec('du', ['-sb', folder], { timeoutMs: 600_000 });
  if (r.code !== 0) return 0;
  return Number(r.stdout.split(/\s/)[0]) || 0;
}
