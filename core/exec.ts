// The one way Drydock's parts run a program: one result shape ({ code, stdout, stderr }), and it
// never rejects on a non-zero exit or a missing program (code 127), so callers decide from the
// code. Parts inject it (an `exec` parameter), so tests run the real code with real tools or record
// what would be run. `mustSucceed` turns it into the form a build step wants: a DrydockError
// (TOOL_MISSING, TOOL_FAILED with the program's last lines) instead of a result to check.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { DrydockError } from './errors.ts';

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
  /** each line the program prints, stdout's and stderr's as they come (live progress) */
  onLine?: (line: string) => void;
  /** aborting sends SIGTERM, then SIGKILL 5 s later if the program is still there */
  signal?: AbortSignal;
}

export type Exec = (cmd: string, args: string[], opts?: ExecOptions) => Promise<ExecResult>;

const MISSING = 'not installed';

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
    const outLines = opts.onLine ? lineSplitter(opts.onLine) : null;
    const errLines = opts.onLine ? lineSplitter(opts.onLine) : null;
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= cap) out.push(b);
      outLines?.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      errLines?.push(b);
    });
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
    let grace: NodeJS.Timeout | null = null;
    const abort = () => {
      child.kill('SIGTERM');
      grace = setTimeout(() => child.kill('SIGKILL'), 5000);
    };
    if (opts.signal?.aborted) abort();
    else opts.signal?.addEventListener('abort', abort, { once: true });
    const settle = (r: ExecResult) => {
      if (timer) clearTimeout(timer);
      if (grace) clearTimeout(grace);
      opts.signal?.removeEventListener('abort', abort);
      resolve(r);
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? `${MISSING} (${e.message})` : e.message;
      settle({ code: 127, stdout: '', stderr: `${cmd}: ${why}` });
    });
    child.on('close', (code, signal) => {
      outLines?.end();
      errLines?.end();
      settle({
        code: code ?? 128 + (signal ? (constants.signals[signal] ?? 9) : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });

function lineSplitter(onLine: (line: string) => void) {
  let buf = '';
  return {
    push(b: Buffer) {
      buf += b.toString('utf8');
      let i = buf.indexOf('\n');
      while (i >= 0) {
        onLine(buf.slice(0, i).replace(/\r$/, ''));
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
    },
    end() {
      if (buf) onLine(buf);
      buf = '';
    },
  };
}

/** Whether `exec` resolved this way because `cmd` could not be started (not installed). */
export function notInstalled(cmd: string, r: ExecResult): boolean {
  return r.code === 127 && r.stdout === '' && r.stderr.startsWith(`${cmd}: ${MISSING}`);
}

/**
 * `run` (default: exec) for programs that must succeed: resolves with the result of an exit 0, else
 * throws TOOL_MISSING (not installed) or TOOL_FAILED naming the program, its subcommand and its last
 * three lines of output (or the timeout).
 */
export function mustSucceed(run: Exec = exec): Exec {
  return async (cmd, args, opts = {}) => {
    const tail: string[] = [];
    const r = await run(cmd, args, {
      ...opts,
      onLine: (line) => {
        tail.push(line);
        if (tail.length > 3) tail.shift();
        opts.onLine?.(line);
      },
    });
    if (notInstalled(cmd, r))
      throw new DrydockError('TOOL_MISSING', `${cmd} is not installed (needed for this step)`);
    if (opts.timeoutMs && r.stderr.endsWith(`timed out after ${opts.timeoutMs} ms`))
      throw new DrydockError('TOOL_FAILED', `${cmd} did not finish within ${opts.timeoutMs} ms`);
    if (r.code !== 0) {
      const last = tail.length ? tail : `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-3);
      throw new DrydockError(
        'TOOL_FAILED',
        `${cmd} ${args[0] ?? ''} failed (exit ${r.code}): ${last
          .map((l) => l.trim())
          .filter(Boolean)
          .join(' | ')}`,
      );
    }
    return r;
  };
}
