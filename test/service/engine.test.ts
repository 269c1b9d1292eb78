// The service over the REAL engine (openBox/initBox), the real demo bundles (examples/demo, the
// bundle format of updater/bundle) and the cluster stand-in, on 127.0.0.1: the first password hand-off, refused
// uploads (not a bundle, tampered: nothing staged), an update through the API with its events, and
// two applies at once.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, type Demo } from '../../examples/demo/index.ts';
import { initBox } from '../../updater/engine/index.ts';
import {
  initialAdminPath,
  type RunningService,
  spoolDir,
  startService,
} from '../../updater/service/index.ts';
import { call, login } from './helpers.ts';

const PASSWORD = 'first boot passphrase';
const NEW_PASSWORD = 'a harbour of quiet lanterns';
let demo: Demo;
let root: string;
let svc: RunningService;
let h: { port: number; ca: Buffer };
let cookie: string;
let csrf: string;

beforeAll(async () => {
  demo = await buildDemo();
  // the modes below must not come from a careful umask: the box sets them itself
  process.umask(0);
  root = await mkdtemp(join(tmpdir(), 'drydock-svc-engine-'));
  const pw = join(root, 'pw.txt');
  await writeFile(pw, `${PASSWORD}\n`, { mode: 0o600 });
  await initBox({
    root,
    trustPath: demo.rootPath,
    bundlePath: demo.bundles['1.0.0'],
    cluster: 'standin',
    adminPasswordFile: pw,
  });
  expect(existsSync(initialAdminPath(root))).toBe(true);
  svc = await startService({
    root,
    listen: { host: '127.0.0.1', port: 0 },
    redirect: null,
    webDir: null,
    logStdout: null,
    schedule: false,
    limits: { uploadBytes: 64 * 1024 * 1024, operationWaitMs: 50 },
  });
  h = {
    port: (svc.app.server.address() as { port: number }).port,
    ca: await readFile(join(root, 'etc/drydock/tls/cert.pem')),
  };
  // a password from first boot must change before anything else answers
  const first = await login(h, PASSWORD);
  expect((await call(h, 'GET', '/api/v1/status', { cookie: first.cookie })).status).toBe(403);
  const changed = await call(h, 'POST', '/api/v1/password', {
    cookie: first.cookie,
    csrf: first.csrf,
    body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
  });
  expect(changed.status).toBe(200);
  ({ cookie, csrf } = await login(h, NEW_PASSWORD));
}, 300_000);

afterAll(async () => {
  process.umask(0o022);
  await svc?.close();
  if (root) await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

const status = async () => (await call(h, 'GET', '/api/v1/status', { cookie })).json();

async function waitFor(state: string[], ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    const s = await status();
    if (state.includes(s.state)) return s;
    if (Date.now() > end) throw new Error(`state stayed ${s.state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('service over the real engine', () => {
  it('secrets on disk are 0600 and their folders 0700, whatever the umask', async () => {
    const mode = async (p: string) => ((await stat(join(root, p))).mode & 0o777).toString(8);
    for (const f of [
      'var/lib/drydock/state.db',
      'var/lib/drydock/state.db-wal',
      'var/lib/drydock/state.db-shm',
      'etc/drydock/config.yaml',
      'etc/drydock/tls/key.pem',
    ])
      expect(await mode(f), f).toBe('600');
    for (const d of ['var/lib/drydock', 'etc/drydock']) expect(await mode(d), d).toBe('700');
  });

  it('took the first password from initial-admin.json, forced its change, and deleted the file', async () => {
    expect(existsSync(initialAdminPath(root))).toBe(false);
    expect(csrf).not.toBe('');
    const s = await status();
    expect(s.running.version).toBe('1.0.0');
    expect(s.workloads.every((w: { ready: boolean }) => w.ready)).toBe(true);
  });

  it('an upload that is not a bundle is refused (415/422); nothing staged, nothing left', async () => {
    const r = await call(h, 'POST', '/api/v1/bundles', {
      cookie,
      csrf,
      raw: Buffer.from('this is not a bundle at all'.repeat(100)),
    });
    expect([415, 422]).toContain(r.status);
    expect(r.json().error.code).toMatch(/^BUNDLE_|^METADATA_/);
    expect((await status()).state).not.toBe('staged');
    expect(await readdir(spoolDir(root))).toEqual([]);
  });

  it('a tampered bundle is refused (422); nothing staged, nothing left', async () => {
    const bytes = Buffer.from(await readFile(demo.bundles['1.1.0']));
    // flip bytes deep inside (blob data, past the signed metadata at the front)
    for (const at of [Math.floor(bytes.length * 0.6), Math.floor(bytes.length * 0.8)])
      bytes[at] = bytes[at]! ^ 0xff;
    const r = await call(h, 'POST', '/api/v1/bundles', { cookie, csrf, raw: bytes });
    expect(r.status).toBe(422);
    expect((await status()).state).not.toBe('staged');
    expect(existsSync(join(root, 'var/lib/drydock/releases/1.1.0'))).toBe(false);
    expect(await readdir(spoolDir(root))).toEqual([]);
  });

  it('a good upload stages; two applies at once: one runs, one 409; events show every step', async () => {
    const up = await call(h, 'POST', '/api/v1/bundles', {
      cookie,
      csrf,
      raw: await readFile(demo.bundles['1.1.0']),
    });
    expect(up.status).toBe(200);
    expect(up.json()).toMatchObject({ version: '1.1.0', installable: true });
    expect((await status()).state).toBe('staged');
    expect(await readdir(spoolDir(root))).toEqual([]);

    const states: string[] = [];
    const events = httpsRequest(
      { host: '127.0.0.1', port: h.port, path: '/api/v1/events', ca: h.ca, headers: { cookie } },
      (res) => {
        res.on('data', (c: Buffer) => {
          for (const m of c.toString().matchAll(/^data: (.*)$/gm)) {
            const d = JSON.parse(m[1]!);
            if (d.type === 'state') states.push(d.state);
          }
        });
      },
    );
    events.on('error', () => {});
    events.end();
    await new Promise((r) => setTimeout(r, 200));

    const [a, b] = await Promise.all([
      call(h, 'POST', '/api/v1/update/apply', { cookie, csrf, body: {} }),
      call(h, 'POST', '/api/v1/update/apply', { cookie, csrf, body: {} }),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const done = await waitFor(['committed', 'rolled-back', 'failed']);
    expect(done.state).toBe('committed');
    expect(done.running.version).toBe('1.1.0');
    await new Promise((r) => setTimeout(r, 200));
    events.destroy();
    expect(states[0]).toBe('staged'); // the snapshot a connecting client gets first
    for (const s of ['snapshotting', 'applying', 'verifying-health', 'committed'])
      expect(states).toContain(s);

    const history = (await call(h, 'GET', '/api/v1/history', { cookie })).json();
    expect(history[0]).toMatchObject({ toVersion: '1.1.0', outcome: 'committed' });
    const metrics = (await call(h, 'GET', '/metrics')).body.toString();
    expect(metrics).toMatch(
      /drydock_update_step_duration_seconds\{[^}]*to_version="1.1.0"[^}]*step="apply"\} \d/,
    );
    const audit = (await call(h, 'GET', '/api/v1/audit', { cookie })).json();
    const actions = audit.map((e: { action: string }) => e.action);
    expect(actions).toContain('login');
    expect(actions).toContain('stage');
  });

  it('rollback through the API (wait=true) returns the history entry', async () => {
    const r = await call(h, 'POST', '/api/v1/update/rollback?wait=true', { cookie, csrf, body: {} });
    expect(r.status).toBe(200);
    expect(r.json().result).toMatchObject({ kind: 'rollback', toVersion: '1.0.0' });
    expect((await status()).running.version).toBe('1.0.0');
  });
});
