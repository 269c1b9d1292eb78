// Structured logs (pino) to stdout, which journald collects under the unit. The last lines are also
// kept in memory for the support bundle. Secrets are redacted before anything is written.
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

const REDACT_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'password',
  'newPassword',
  'currentPassword',
  'key',
  'csrfToken',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.key',
  '*.csrfToken',
  '*.cookie',
];

export class LogRing extends Writable {
  private readonly lines: string[] = [];
  constructor(private readonly max = 5000) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      this.lines.push(line);
      if (this.lines.length > this.max) this.lines.shift();
    }
    cb();
  }
  text(): string {
    return this.lines.length ? `${this.lines.join('\n')}\n` : '';
  }
}

export function createLogger(opts: {
  level?: string;
  stdout?: NodeJS.WritableStream | null;
  ring: LogRing;
}): Logger {
  const streams: pino.StreamEntry[] = [{ stream: opts.ring, level: 'info' }];
  if (opts.stdout !== null) streams.push({ stream: opts.stdout ?? process.stdout, level: 'info' });
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'drydock-updater' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.multistream(streams),
  );
}
