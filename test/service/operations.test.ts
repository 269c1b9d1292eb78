// Against a real HTTPS service on 127.0.0.1 with the HTTP-layer TestBox: upload streaming and
// limits, one operation at a time, events, metrics, settings validation, certificate swap, support bundle.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCertificate, spoolDir, startService } from '../../updater/service/index.ts';
import { call, type Harness, login, startHarness, TestBox } from './helpers.ts';

let h: Harness & { box: TestBox };
let cookie: string;
let csrf: string;
beforeAll(async () => {
  h = await startHarness({ limits: { uploadBytes: 64 * 1024, operationWaitMs: 100 } });
  ({ cookie, csrf } = await login(h));
});
afterAll(async () => {
  await h.close();
});

const spoolFiles = async () => readdir(spoolDir(h.root));

describe('offline upload', () => {
  it('streams the body to a spool file, hands it to the box, and removes it afterwards', async () => {
    const r = await call(h, 'POST', '/api/v1/bundles', { cookie, csrf, raw: Buffer.alloc(40_000, 7) });
    expect(r.status).toBe(200);
    expect(r.json().version).toBe('1.1.0');
    expect(h.box.staged.at(-1)?.bytes).toBe(40_000);
    expect(h.box.staged.at(-1)?.path.startsWith(spoolDir(h.root))).toBe(true);
    expect(await spoolFiles()).toEqual([]);
  });

  it('too large by its declared length: 413 before reading, nothing staged or left', async () => {
    const before = h.box.staged.length;
    const r = await call(h, 'POST', '/api/v1/bundles', { cookie, csrf, raw: Buffer.alloc(65 * 1024) });
    expect(r.status).toBe(413);
    expect(r.json().error.code).toBe('BUNDLE_TOO_LARGE');
    expect(h.box.staged.length).toBe(before);
    expect(await spoolFiles()).toEqual([]);
    expect(h.box.audits[0]).toMatchObject({ action: 'bundle.upload', result: 'error' });
  });

  it('too large while streaming (chunked, no length): 413, nothing left', async () => {
    const before = h.box.staged.length;
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: h.port,
          method: 'POST',
          path: '/api/v1/bundles',
          ca: h.ca,
          headers: {
            cookie,
            'x-csrf-token': csrf,
            'content-type': 'application/octet-stream',
            'transfer-encoding': 'chunked',
          },
        },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < 200 * 1024) {
          sent += 16 * 1024;
          if (!req.write(Buffer.alloc(16 * 1024, 1))) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(r.status).toBe(413);
    expect(h.box.staged.length).toBe(before);
    expect(await spoolFiles()).toEqual([]);
  });

  it('a client that disconnects mid-upload leaves nothing behind', async () => {
    const before = h.box.staged.length;
    await new Promise<void>((resolve) => {
      const req = httpsRequest({
        host: '127.0.0.1',
        port: h.port,
        method: 'POST',
        path: '/api/v1/bundles',
        ca: h.ca,
        headers: {
          cookie,
          'x-csrf-token': csrf,
          'content-type': 'application/octet-stream',
          'content-length': '60000',
        },
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(20_000, 3));
      // give the server time to open the spool file, then cut the connection
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    });
    let files = await spoolFiles();
    for (let i = 0; i < 20 && files.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      files = await spoolFiles();
    }
    expect(files).toEqual([]);
    expect(h.box.staged.length).toBe(before);
    // the service is still fine and not left busy
    expect((await call(h, 'POST', '/api/v1/bundles', { cookie, csrf, raw: Buffer.alloc(10) })).status).toBe(
      200,
    );
  });
});

describe('one operation at a time', () => {
  it('two apply requests at once: exactly one runs, the other is 409', async () => {
    h.box.applyMs = 400;
    const before = h.box.applies;
    const [a, b] = await Promise.all([
      call(h, 'POST', '/api/v1/update/apply', { cookie, csrf, body: {} }),
      call(h, 'POST', '/api/v1/update/apply', { cookie, csrf, body: {} }),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const loser = a.status === 409 ? a : b;
    expect(loser.json().error.code).toBe('UPDATE_IN_PROGRESS');
    await new Promise((r) => setTimeout(r, 50));
    expect(
      h.box.audits.some((e) => e.action === 'request.refused' && e.detail.includes('UPDATE_IN_PROGRESS')),
    ).toBe(true);
    expect(h.box.applies - before).toBe(1);
    // a rollback while it runs is refused too; after it ended the next one may run
    expect((await call(h, 'POST', '/api/v1/update/rollback', { cookie, csrf, body: {} })).status).toBe(409);
    await new Promise((r) => setTimeout(r, 500));
    const c = await call(h, 'POST', '/api/v1/update/apply?wait=true', { cookie, csrf, body: {} });
    expect(c.status).toBe(200);
    expect(c.json()).toMatchObject({ operation: 'apply', running: false, result: { outcome: 'committed' } });
  });
});

function openEvents(withCookie = cookie): Promise<{
  events: { event: string; data: any }[];
  close: () => void;
  next: (n: number) => Promise<void>;
  ended: Promise<void>;
}> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: any }[] = [];
    const waiters: (() => void)[] = [];
    const req = httpsRequest(
      { host: '127.0.0.1', port: h.port, path: '/api/v1/events', ca: h.ca, headers: { cookie: withCookie } },
      (res) => {
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
        let buf = '';
        res.on('data', (c) => {
          buf += c;
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
            for (const w of waiters.splice(0)) w();
            i = buf.indexOf('\n\n');
          }
        });
        const ended = new Promise<void>((r) => res.on('end', () => r()));
        resolve({
          events,
          ended,
          close: () => req.destroy(),
          next: async (n) => {
            while (events.length < n) await new Promise<void>((r) => waiters.push(r));
          },
        });
      },
    );
    req.on('error', (e) => {
      if (!(e as NodeJS.ErrnoException).code?.includes('RESET')) reject(e);
    });
    req.end();
  });
}

describe('events', () => {
  it('a (re)connecting client first gets the current state, then live steps', async () => {
    const first = await openEvents();
    await first.next(2);
    expect(first.events[0]!.event).toBe('snapshot');
    expect(first.events[0]!.data.status.state).toBe(h.box.state);
    expect(first.events[1]!.event).toBe('state');
    h.box.emit({
      type: 'state',
      state: 'downloading',
      target: { name: 'demo', version: '1.1.0' },
      at: new Date().toISOString(),
    });
    h.box.emit({ type: 'progress', step: 'download', done: 512, total: 1024, at: new Date().toISOString() });
    await first.next(4);
    expect(first.events.slice(2).map((e) => e.event)).toEqual(['state', 'progress']);
    expect(first.events[3]!.data).toMatchObject({ step: 'download', done: 512, total: 1024 });
    first.close();
    const again = await openEvents();
    await again.next(2);
    expect(again.events[0]!.data.status.state).toBe('downloading');
    expect(again.events[1]!.data).toMatchObject({ type: 'state', state: 'downloading' });
    again.close();
    h.box.emit({ type: 'state', state: 'idle', target: null, at: new Date().toISOString() });
  });

  it('signing out ends the streams of that session', async () => {
    const other = await login(h);
    const stream = await openEvents(other.cookie);
    await stream.next(2);
    expect(
      (await call(h, 'POST', '/api/v1/logout', { cookie: other.cookie, csrf: other.csrf, body: {} })).status,
    ).toBe(200);
    await stream.ended;
    // a stream of the session that stays is not touched
    const mine = await openEvents();
    await mine.next(2);
    mine.close();
  });

  it('upload progress reaches every open stream', async () => {
    const stream = await openEvents();
    await stream.next(2);
    expect(
      (await call(h, 'POST', '/api/v1/bundles', { cookie, csrf, raw: Buffer.alloc(40_000, 1) })).status,
    ).toBe(200);
    await stream.next(3);
    expect(stream.events[2]).toMatchObject({
      event: 'progress',
      data: { step: 'upload', done: 40_000, total: 40_000 },
    });
    stream.close();
  });

  it('status reflects a state step at once despite its cache', async () => {
    h.box.emit({ type: 'state', state: 'staged', target: null, at: new Date().toISOString() });
    expect((await call(h, 'GET', '/api/v1/status', { cookie })).json().state).toBe('staged');
    h.box.emit({ type: 'state', state: 'idle', target: null, at: new Date().toISOString() });
    expect((await call(h, 'GET', '/api/v1/status', { cookie })).json().state).toBe('idle');
  });
});

describe('metrics', () => {
  it('from 127.0.0.1 without a session: Prometheus text', async () => {
    const r = await call(h, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = r.body.toString();
    expect(text).toContain('# TYPE drydock_update_state gauge');
    expect(text).toMatch(/drydock_update_state\{state="idle"\} 1/);
    expect(text).toContain('drydock_last_check_timestamp_seconds 0');
    expect(text).toMatch(/drydock_release_info\{name="demo",version="1.0.0"/);
  });
});

describe('settings', () => {
  it('refuses bad values with a reason and changes nothing', async () => {
    const before = { ...h.box.settings };
    for (const [body, code] of [
      [{ checkSchedule: 'every day please' }, 'CONFIG_INVALID'],
      [{ maintenanceWindow: { days: ['someday'], start: '02:00', end: '04:00' } }, 'USAGE'],
      [{ maintenanceWindow: { days: ['sat'], start: '02:00', end: '02:00' } }, 'CONFIG_INVALID'],
      [{ channelUrl: 'ftp://example.test/' }, 'CONFIG_INVALID'],
      [{ channelUrl: 'https://user:pw@example.test/' }, 'CONFIG_INVALID'],
      [{ autoApply: true }, 'CONFIG_INVALID'],
      [{ unknown: 1 }, 'USAGE'],
    ] as const) {
      const r = await call(h, 'PUT', '/api/v1/settings', { cookie, csrf, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json().error.code).toBe(code);
    }
    expect(h.box.settings).toEqual(before);
    const ok = await call(h, 'PUT', '/api/v1/settings', {
      cookie,
      csrf,
      body: {
        autoApply: true,
        maintenanceWindow: { days: ['sat', 'sun'], start: '23:00', end: '03:00' },
        checkSchedule: '*/30 * * * *',
      },
    });
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ autoApply: true, checkSchedule: '*/30 * * * *' });
  });
});

describe('certificate', () => {
  const fingerprint = () =>
    new Promise<string>((resolve, reject) => {
      const s = connect(
        { host: '127.0.0.1', port: h.port, servername: 'localhost', rejectUnauthorized: false },
        () => {
          resolve(s.getPeerX509Certificate()!.fingerprint256);
          s.end();
        },
      );
      s.on('error', reject);
    });

  it('a mismatched pair is refused (old one kept); a matching one is served at once, no restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drydock-newcert-'));
    const a = await ensureCertificate({
      dir: join(dir, 'a'),
      names: ['new.example.test'],
      ips: ['127.0.0.1'],
    });
    const b = await ensureCertificate({ dir: join(dir, 'b'), names: ['other.example.test'], ips: [] });
    const cert = await readFile(a.certPath, 'utf8');
    const old = await fingerprint();
    const bad = await call(h, 'PUT', '/api/v1/tls', {
      cookie,
      csrf,
      body: { certificate: cert, key: await readFile(b.keyPath, 'utf8') },
    });
    expect(bad.status).toBe(400);
    expect(bad.json().error.code).toBe('TLS_INVALID');
    expect(await fingerprint()).toBe(old);
    const good = await call(h, 'PUT', '/api/v1/tls', {
      cookie,
      csrf,
      body: { certificate: cert, key: await readFile(a.keyPath, 'utf8') },
    });
    expect(good.status).toBe(200);
    expect(await fingerprint()).toBe(a.info.fingerprint256);
    expect(await readFile(join(h.root, 'etc', 'drydock', 'tls', 'cert.pem'), 'utf8')).toBe(cert);
    // the harness client trusts the new certificate from now on
    h.ca = Buffer.from(cert);
    expect((await call(h, 'GET', '/api/v1/tls', { cookie })).json().names).toEqual(['new.example.test']);
  });
});

describe('support bundle', () => {
  it('is a .tar.gz of logs, state, history and config, without secrets', async () => {
    await mkdir(join(h.root, 'etc/drydock'), { recursive: true });
    await writeFile(
      join(h.root, 'etc/drydock/config.yaml'),
      'name: demo\nchannelUrl: https://robot:hunter2token@updates.example.test/stable\nproxy:\n  password: s3cr3t-proxy\n  apiToken: tok-123456\n',
    );
    const r = await call(h, 'GET', '/api/v1/support-bundle', { cookie });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/gzip');
    expect(r.headers['content-disposition']).toMatch(/attachment; filename="drydock-support-.*\.tar\.gz"/);
    const dir = await mkdtemp(join(tmpdir(), 'drydock-support-'));
    const file = join(dir, 'b.tar.gz');
    await writeFile(file, r.body);
    const list = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' });
    for (const name of [
      'state/status.json',
      'state/history.json',
      'state/audit.json',
      'config/config.yaml',
      'logs/service.log',
    ])
      expect(list).toContain(`drydock-support/${name}`);
    const all = gunzipSync(r.body).toString('latin1');
    expect(all).not.toContain(csrf);
    expect(all).not.toContain('a long test passphrase');
    expect(all).not.toContain(cookie.split('=')[1]!);
    for (const secret of ['hunter2token', 's3cr3t-proxy', 'tok-123456']) expect(all).not.toContain(secret);
    expect(all).toContain('updates.example.test/stable'); // the rest of the config is there
  });
});

describe('start', () => {
  it('a second service on the same box refuses to start and changes nothing of the first', async () => {
    // an upload in flight leaves its spool file; a second start must not clean it away
    const spool = spoolDir(h.root);
    const inFlight = join(spool, 'upload-in-flight.drydock');
    await writeFile(inFlight, 'partial bundle bytes');
    const box = new TestBox(h.root);
    await expect(
      startService({
        root: h.root,
        listen: { host: '127.0.0.1', port: 0 },
        redirect: null,
        box,
        webDir: null,
        logStdout: null,
        schedule: false,
      }),
    ).rejects.toMatchObject({
      code: 'UPDATE_IN_PROGRESS',
      message: expect.stringMatching(/another updater service already serves/),
    });
    expect(existsSync(inFlight)).toBe(true);
    expect(box.listeners.size).toBe(0);
    // the first still answers
    expect((await call(h, 'GET', '/api/v1/status')).status).toBe(401);
    await rm(inFlight);
  });

  it('a port in use is a clear error, and nothing is left running', async () => {
    const other = await mkdtemp(join(tmpdir(), 'drydock-port-'));
    const box = new TestBox(other);
    await expect(
      startService({
        root: other,
        listen: { host: '127.0.0.1', port: h.port },
        redirect: null,
        box,
        webDir: null,
        logStdout: null,
        schedule: false,
      }),
    ).rejects.toMatchObject({ code: 'NETWORK_FAILED', message: expect.stringMatching(/in use/) });
    expect(box.listeners.size).toBe(0);
    // the failed start released its box lock: the same root starts now on a free port
    const again = await startService({
      root: other,
      listen: { host: '127.0.0.1', port: 0 },
      redirect: null,
      box: new TestBox(other),
      webDir: null,
      logStdout: null,
      schedule: false,
    });
    await again.close();
    await rm(other, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
});
