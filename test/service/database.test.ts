// When state.db is sick: a damaged file at start is swapped for the last good copy the service
// kept (real engine, real SQLite file, demo box on the stand-in), and the page is told; a locked
// database answers 503 at once instead of stopping the event loop for the busy timeout.
import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo } from '../../examples/demo/index.ts';
import { initBox } from '../../updater/engine/index.ts';
import { type RunningService, startService } from '../../updater/service/index.ts';
import { call, PASSWORD as HARNESS_PASSWORD, login, startHarness } from './helpers.ts';

const PASSWORD = 'first boot passphrase';
let root: string;

const start = () =>
  startService({
    root,
    listen: { host: '127.0.0.1', port: 0 },
    redirect: null,
    webDir: null,
    logStdout: null,
    schedule: false,
  });
const client = async (svc: RunningService) => ({
  port: (svc.app.server.address() as { port: number }).port,
  ca: await readFile(join(root, 'etc/drydock/tls/cert.pem')),
});

beforeAll(async () => {
  const demo = await buildDemo();
  root = await mkdtemp(join(tmpdir(), 'drydock-db-'));
  const pw = join(root, 'pw.txt');
  await writeFile(pw, `${PASSWORD}\n`, { mode: 0o600 });
  await initBox({
    root,
    trustPath: demo.rootPath,
    bundlePath: demo.bundles['1.0.0'],
    cluster: 'standin',
    adminPasswordFile: pw,
  });
}, 300_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('a damaged state.db', () => {
  it('is moved aside and the last good copy restored; the box keeps its release and says so', async () => {
    const first = await start();
    const h1 = await client(first);
    expect((await login(h1, PASSWORD)).res.status).toBe(200);
    await first.close();
    const db = join(root, 'var/lib/drydock/state.db');
    expect(existsSync(`${db}.bak`)).toBe(true);
    // garbage over the header and the first pages: SQLite cannot read it as a database
    const fh = await open(db, 'r+');
    await fh.write(Buffer.alloc(16384, 0x5a), 0, 16384, 0);
    await fh.close();
    await rm(`${db}-wal`, { force: true });
    await rm(`${db}-shm`, { force: true });

    const second = await start();
    try {
      const h2 = await client(second);
      const s = await login(h2, PASSWORD);
      expect(s.res.status).toBe(200);
      const notices: string[] = s.res.json().notices;
      expect(notices.join(' ')).toMatch(/damaged .* last good copy was restored/);
      // the release the box runs is still known: status answers after the password change
      const changed = await call(h2, 'POST', '/api/v1/password', {
        cookie: s.cookie,
        csrf: s.csrf,
        body: { currentPassword: PASSWORD, newPassword: 'a harbour of quiet lanterns' },
      });
      expect(changed.status).toBe(200);
      const again = await login(h2, 'a harbour of quiet lanterns');
      const status = (await call(h2, 'GET', '/api/v1/status', { cookie: again.cookie })).json();
      expect(status.running.version).toBe('1.0.0');
      const audit = (await call(h2, 'GET', '/api/v1/audit', { cookie: again.cookie })).json();
      expect(audit.some((e: { action: string }) => e.action === 'database.recovered')).toBe(true);
      // the damaged file is kept for whoever looks into it
      const kept = (await readdir(join(root, 'var/lib/drydock'))).filter((f) => f.includes('.corrupt-'));
      expect(kept.length).toBeGreaterThan(0);
    } finally {
      await second.close();
    }
  }, 120_000);
});

describe('a locked state.db', () => {
  it('answers 503 DATABASE_BUSY well before the 5 s busy timeout, and works again once the lock is gone', async () => {
    const h = await startHarness();
    try {
      const { cookie, csrf } = await login(h);
      expect((await call(h, 'GET', '/api/v1/session', { cookie })).status).toBe(200);
      const other = new Database(join(h.root, 'var/lib/drydock/state.db'));
      other.exec('BEGIN EXCLUSIVE');
      try {
        // readers pass a writer's lock in WAL mode; signing out writes (deletes its session)
        const t0 = Date.now();
        const r = await call(h, 'POST', '/api/v1/logout', { cookie, csrf, body: {} });
        // the engine's connection would wait its 5 s busy timeout; the service's waits 250 ms
        expect(Date.now() - t0).toBeLessThan(2_500);
        expect(r.status).toBe(503);
        expect(r.json().error.code).toBe('DATABASE_BUSY');
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      expect(
        (await call(h, 'POST', '/api/v1/login', { body: { username: 'admin', password: HARNESS_PASSWORD } }))
          .status,
      ).toBe(200);
    } finally {
      await h.close();
    }
  });
});
