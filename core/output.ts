// How commands talk to people and to scripts: a one-line result on stdout, errors on stderr as
// "drydock: CODE: reason", or one JSON object per line with --json. Progress only on a TTY.
import { asDrydockError } from './errors.ts';

export interface Output {
  json: boolean;
  /** The command's result: a human line, or the object under --json. */
  result(line: string, data?: Record<string, unknown>): void;
  /** A note for people (stderr), silent under --json. */
  info(line: string): void;
  /** Progress of long work: a redrawn line on a TTY, a JSON event under --json, nothing otherwise. */
  progress(step: string, done: number, total?: number): void;
  error(err: unknown): number;
}

export function createOutput(
  opts: { json?: boolean; stdout?: NodeJS.WriteStream; stderr?: NodeJS.WriteStream } = {},
): Output {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const json = opts.json ?? false;
  const tty = Boolean(stderr.isTTY) && !json;
  let lastDraw = 0;
  let drawn = false;
  const clear = () => {
    if (drawn) {
      stderr.write('\r\x1b[K');
      drawn = false;
    }
  };
  return {
    json,
    result(line, data) {
      clear();
      if (json) stdout.write(`${JSON.stringify({ ok: true, ...(data ?? { message: line }) })}\n`);
      else stdout.write(`${line}\n`);
    },
    info(line) {
      if (json) return;
      clear();
      stderr.write(`${line}\n`);
    },
    progress(step, done, total) {
      if (json) {
        stdout.write(`${JSON.stringify({ event: 'progress', step, done, total })}\n`);
        return;
      }
      if (!tty) return;
      const now = Date.now();
      if (now - lastDraw < 100 && (total === undefined || done < total)) return;
      lastDraw = now;
      const pct = total ? ` ${((100 * done) / total).toFixed(0)}%` : '';
      stderr.write(`\r\x1b[K${step}: ${formatBytes(done)}${total ? ` / ${formatBytes(total)}` : ''}${pct}`);
      drawn = true;
    },
    error(err) {
      clear();
      const e = asDrydockError(err);
      if (json) stdout.write(`${JSON.stringify({ ok: false, error: e.toJSON() })}\n`);
      else stderr.write(`drydock: ${e.code}: ${e.message}\n`);
      if (e.code === 'INTERNAL' && process.env.DRYDOCK_DEBUG)
        stderr.write(`${(e.cause as Error)?.stack ?? e.stack}\n`);
      return e.exitCode;
    },
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
