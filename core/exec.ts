// The one way Drydock's parts run a program: one result shape ({ code, stdout, stderr }), and it
// never rejects on a non-zero exit or a missing program (code 127), so callers decide from the
// code. Parts inject it (an `exec` parameter), so tests run the real code with real tools or record
// what would be run.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** SIGKILL after this long; stderr then ends with "timed out after N ms" */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout kept at most (the rest is read and dropped); default 64 MiB */
  maxStdoutBytes?: number;
  /** written to the program's stdin, which is then closed (default: stdin closed at once) */
  input?: string | Buffer;
}

export type Exec = (cmd: string, args: string[], opts?: ExecOptions) => Promise<ExecResult>;

/** Runs a program; resolves with its exit code and output (never rejects). */
export const exec: Exec = (cmd, args, opts = {}) =>
  new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: 'pipe',
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const cap = opts.maxStdoutBytes ?? 64 << 20; // kubectl -o json of a whole cluster stays well below this
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= cap) out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // stdin is the input, or closed at once; a program that exits without reading it (EPIPE) is
    // judged by its exit code
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input);
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          err.push(Buffer.from(`\ntimed out after ${opts.timeoutMs} ms`));
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : null;
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      const why = e.code === 'ENOENT' ? `not installed (${e.message})` : e.message;
      resolve({ code: 127, stdout: '', stderr: `${cmd}: ${why}` });
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
