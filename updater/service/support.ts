// The support bundle: a .tar.gz an admin sends to the vendor. Logs, state, history, audit and the
// config with every secret-looking value replaced; never keys, sessions or password hashes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import YAML from 'yaml';
import type { Exec } from '../../core/index.ts';
import type { Box } from '../engine/api.ts';
import type { CertificateInfo } from './tls.ts';

const SECRET_KEY = /pass(word)?|secret|token|credential|private|^key$|apikey|api_key|session|cookie/i;

/** Deep copy with secret-looking values replaced and credentials stripped from URLs. */
function redact(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && value !== null && value !== undefined && value !== '') return '[redacted]';
  if (typeof value === 'string') return value.replace(/(\w+:\/\/)[^/@\s]+@/g, '$1[redacted]@');
  if (Array.isArray(value)) return value.map((v) => redact(v));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  return value;
}

export async function supportBundle(opts: {
  box: Box;
  root: string;
  logText: string;
  certificate: CertificateInfo | null;
  exec?: Exec;
  now: () => number;
}): Promise<Readable> {
  const { box } = opts;
  const [status, history, audit, settings] = await Promise.all([
    box.status(),
    box.history(500),
    box.audit(1000),
    box.getSettings(),
  ]);
  let config: string;
  try {
    const text = await readFile(join(opts.root, 'etc', 'drydock', 'config.yaml'), 'utf8');
    config = YAML.stringify(redact(YAML.parse(text)));
  } catch (err) {
    config = `# config.yaml could not be read: ${(err as Error).message}\n`;
  }
  let journal = '';
  if (opts.exec) {
    try {
      journal = (
        await opts.exec('journalctl', [
          '-u',
          'drydock-updater',
          '-n',
          '5000',
          '--no-pager',
          '-o',
          'short-iso',
        ])
      ).stdout;
    } catch (err) {
      journal = `journalctl not available: ${(err as Error).message}\n`;
    }
  }
  const stamp = new Date(opts.now()).toISOString();
  const files: [string, string][] = [
    [
      'README.txt',
      `Drydock support bundle made ${stamp}.\nSecrets (passwords, keys, tokens, sessions) are not included.\n`,
    ],
    ['state/status.json', JSON.stringify(redact(status), null, 2)],
    ['state/history.json', JSON.stringify(history, null, 2)],
    ['state/audit.json', JSON.stringify(audit, null, 2)],
    ['state/settings.json', JSON.stringify(redact(settings), null, 2)],
    ['state/certificate.json', JSON.stringify(opts.certificate, null, 2)],
    ['config/config.yaml', config],
    ['logs/service.log', opts.logText],
  ];
  if (journal) files.push(['logs/journal.txt', journal]);
  const pack = tar.pack();
  const mtime = new Date(opts.now());
  for (const [name, content] of files)
    pack.entry({ name: `drydock-support/${name}`, mtime, mode: 0o644 }, content);
  pack.finalize();
  const out = new PassThrough();
  pack.pipe(createGzip()).pipe(out);
  return out;
}
