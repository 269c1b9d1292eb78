// The HTTPS server's limits, from outside: slow headers, a stalled upload, a connection cap, event
// streams per session and a revoked session's stream; an upload in progress never blocks rollback.

import { readdir } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spoolDir } from '../../updater/service/index.ts';
import { call, type Harness, login, startHarness, type TestBox } from './helpers.ts';

let h: Harness & { box: TestBox };
let cookie: string;
let csrf: string;
beforeAll(async () => {
  h = await startHarness({
    limits: {
      headersTimeoutMs: 800,
      uploadStallMs: 600,
      maxConnections: 8,
      eventStreamsPerSession: 2,
      heartbeatMs: 200,
    },
  });
  ({ cookie, csrf } = await login(h));
});
afterAll(async () => {
  await h.close();
});

const tls = () =>
  new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: h.port, ca: h.ca, servername: 'localhost' }, () =>
      resolve(s),
    );
    s.on('error', reject);
  });
const closed = (s: TLSSocket, withinMs: number) =>
  new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), withinMs);
    s.on('close', () => {
      clearTimeout(t);
      resolve(true);
    });
    s.on('error', () => {});
  });

/** Starts an upload that sends a first part and then nothing; resolves when the server ends it. */
function stalledUpload(): { ended: Promise<string>; req: ReturnType<typeof httpsRequest> } {
  const req = httpsRequest({
    host: '127.0.0.1',
    port: h.port,
    method: 'POST',
    path: '/api/v1/bundles',
    ca: h.ca,
    agent: false,
    headers: {
      cookie,
      'x-csrf-token': csrf,
      'content-type': 'application/octet-stream',
      'content-length': '100000',
    },
  });
  const ended = new Promise<string>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(`response ${res.statusCode}`));
    });
    req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    req.on('close', () => resolve('closed'));
  });
  req.write(Buffer.alloc(10_000, 7));
  return { ended, req };
}

describe('limits', () => {
  it('a client that sends headers too slowly is cut off', async () => {
    const s = await tls();
    s.write('GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n');
    // never ends its headers
    expect(await closed(s, 5_000)).toBe(true);
  });

  it('a stalled upload is ended, leaves nothing, and frees the upload slot', async () => {
    const t0 = Date.now();
    const { ended } = stalledUpload();
    const how = await ended;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(how).not.toBe('response 200');
    await expect.poll(async () => readdir(spoolDir(h.root)), { timeout: 5_000 }).toEqual([]);
    const next = await call(h, 'POST', '/api/v1/bundles', { cookie, csrf, raw: Buffer.alloc(10) });
    expect(next.status).toBe(200);
  });

  it('an upload in progress does not block a rollback', async () => {
    const { ended, req } = stalledUpload();
    // the upload is running (its spool file exists) while the rollback is asked for
    await expect.poll(async () => (await readdir(spoolDir(h.root))).length, { timeout: 5_000 }).toBe(1);
    const applies = h.box.applies;
    const r = await call(h, 'POST', '/api/v1/update/rollback?wait=true', { cookie, csrf, body: {} });
    expect(r.status).toBe(200);
    expect(h.box.applies).toBe(applies + 1);
    // a second upload meanwhile is refused, not queued
    const second = await call(h, 'POST', '/api/v1/bundles', { cookie, csrf, raw: Buffer.alloc(10) });
    expect(second.status).toBe(409);
    req.destroy();
    await ended;
  });

  it('connections beyond the cap are refused at once', async () => {
    const open: TLSSocket[] = [];
    let refused = 0;
    try {
      // the cap counts every connection, the client's pooled keep-alive ones too
      for (let i = 0; i < 12; i++)
        await tls().then(
          (s) => open.push(s),
          () => refused++,
        );
      expect(open.length).toBeLessThanOrEqual(8);
      expect(refused).toBeGreaterThan(0);
    } finally {
      for (const s of open) s.destroy();
    }
    // and once they are gone, a request works again
    await expect.poll(async () => (await call(h, 'GET', '/api/v1/session', { cookie })).status).toBe(200);
  });

  it('a session has at most N event streams; the oldest gives way', async () => {
    const streams = await Promise.all([0, 1, 2].map(() => openStream(cookie)));
    await expect.poll(() => streams.map((s) => s.ended), { timeout: 5_000 }).toEqual([true, false, false]);
    expect(h.svc.context.events.size).toBe(2);
    for (const s of streams) s.close();
  });

  it("a revoked session's stream ends at the next heartbeat", async () => {
    const other = await login(h);
    const s = await openStream(other.cookie);
    expect(s.ended).toBe(false);
    // revoked behind the stream's back (as a password change elsewhere does)
    h.svc.db.prepare('DELETE FROM service_sessions').run();
    await expect.poll(() => s.ended, { timeout: 5_000 }).toBe(true);
    ({ cookie, csrf } = await login(h));
  });
});

async function openStream(c: string): Promise<{ ended: boolean; close(): void }> {
  return new Promise((resolve, reject) => {
    const state = { ended: false, close: () => req.destroy() };
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: h.port,
        path: '/api/v1/events',
        ca: h.ca,
        agent: false,
        headers: { cookie: c, accept: 'text/event-stream' },
      },
      (res) => {
        expect(res.statusCode).toBe(200);
        res.on('data', () => {});
        res.on('end', () => {
          state.ended = true;
        });
        res.on('close', () => {
          state.ended = true;
        });
        res.once('data', () => resolve(state));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
