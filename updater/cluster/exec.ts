// The one way the drivers run programs (k3s, kubectl, ctr, umoci, nsenter). Injected, so tests
// can point the driver at Debian's containerd instead of k3s's, or record what would be run.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type ExecFn = (
  cmd: string,
  args: string[],
  opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv },
) => Promise<ExecResult>;

/** Runs a program; resolves with its exit code and output (never rejects on a non-zero exit). */
export const defaultExec: ExecFn = (cmd, args, opts = {}) =>
  new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const cap = 64 << 20; // kubectl -o json of a whole cluster stays well below this
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= cap) out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          err.push(Buffer.from(`\ntimed out after ${opts.timeoutMs} ms`));
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : null;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      resolve({ code: 127, stdout: '', stderr: `${cmd}: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? 128 + (signal ? (constants.signals[signal] ?? 9) : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
