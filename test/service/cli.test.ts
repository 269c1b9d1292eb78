// The commands of the group through the real CLI entry (bin/drydock.js).
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getUser, openServiceDatabase, parseEndpoint, verifyPassword } from '../../updater/service/index.ts';

const run = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['bin/drydock.js', ...args], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'drydock-svc-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('drydock updater', () => {
  it('password: sets the admin password from a file (forced change on request)', async () => {
    const file = join(root, 'pw');
    await writeFile(file, 'from the console 1\n', { mode: 0o600 });
    const r = await run([
      'updater',
      'password',
      '--root',
      root,
      '--password-file',
      file,
      '--must-change',
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, mustChange: true });
    const db = openServiceDatabase(root);
    const u = getUser(db, 'admin')!;
    db.close();
    expect(u.mustChange).toBe(true);
    expect(await verifyPassword('from the console 1', u.hash)).toBe(true);
  });

  it('password: refuses a missing file or no source, changes nothing', async () => {
    const missing = await run(['updater', 'password', '--root', root, '--password-file', join(root, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/NOT_FOUND/);
  });

  it('cert: makes a certificate with the names, refuses a bad one', async () => {
    const r = await run([
      'updater',
      'cert',
      '--root',
      root,
      '--name',
      'box.example.test',
      '--ip',
      '10.1.2.3',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const x = new X509Certificate(await readFile(join(root, 'etc/drydock/tls/cert.pem')));
    expect(x.subjectAltName).toContain('DNS:box.example.test');
    expect(x.subjectAltName).toContain('IP Address:10.1.2.3');
  });

  it('serve: a bad listen address or a root without a box is a clear error', async () => {
    expect(() => parseEndpoint('127.0.0.1:99999', 443)).toThrow(/port/);
    expect(() => parseEndpoint('a b', 443)).toThrow(/HOST:PORT/);
    expect(parseEndpoint('[::1]:8443', 443)).toEqual({ host: '::1', port: 8443 });
    expect(parseEndpoint(':8443', 443)).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(parseEndpoint('10.0.0.5', 443)).toEqual({ host: '10.0.0.5', port: 443 });
    const nobox = await run([
      'updater',
      'serve',
      '--root',
      root,
      '--listen',
      '127.0.0.1:0',
      '--http-redirect',
      'none',
    ]);
    expect(nobox.code).toBe(1);
    expect(nobox.stderr).toMatch(/BOX_NOT_INITIALISED/);
  });
});
