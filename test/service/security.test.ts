// Against a real HTTPS service on 127.0.0.1: sign-in, sessions, CSRF, throttling, headers, TLS.

import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCertificate, validateCertificatePair } from '../../updater/service/index.ts';
import { call, type Harness, login, PASSWORD, startHarness, type TestBox } from './helpers.ts';

// every route that changes something
const MUTATIONS: [string, string, unknown?][] = [
  ['POST', '/api/v1/logout', {}],
  ['POST', '/api/v1/password', { currentPassword: PASSWORD, newPassword: 'another long passphrase' }],
  ['POST', '/api/v1/update/check', {}],
  ['POST', '/api/v1/update/download', {}],
  ['POST', '/api/v1/update/apply', {}],
  ['POST', '/api/v1/update/cancel', {}],
  ['POST', '/api/v1/update/rollback', {}],
  ['POST', '/api/v1/bundles', undefined],
  ['PUT', '/api/v1/settings', { autoStage: true }],
  ['PUT', '/api/v1/tls', { certificate: 'x', key: 'y' }],
];
const READS = [
  '/api/v1/status',
  '/api/v1/releases',
  '/api/v1/history',
  '/api/v1/audit',
  '/api/v1/settings',
  '/api/v1/session',
  '/api/v1/support-bundle',
  '/api/v1/events',
  '/api/v1/tls',
];

let h: Harness & { box: TestBox };
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('without a session', () => {
  it('every mutating route answers 401 and the box is untouched', async () => {
    for (const [method, path, body] of MUTATIONS) {
      const r = await call(
        h,
        method,
        path,
        body === undefined ? { raw: Buffer.from('bundle bytes') } : { body },
      );
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.json().error.code).toBe('UNAUTHENTICATED');
    }
    expect(h.box.applies).toBe(0);
    expect(h.box.staged).toEqual([]);
    expect(h.box.settings.autoStage).toBe(false);
  });

  it('every read answers 401', async () => {
    for (const path of READS) expect((await call(h, 'GET', path)).status, path).toBe(401);
  });

  it('a forged cookie is no session', async () => {
    const r = await call(h, 'GET', '/api/v1/status', {
      cookie: '__Host-drydock-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    });
    expect(r.status).toBe(401);
  });
});

describe('with a session but no CSRF token', () => {
  it('every mutating route answers 403 CSRF_INVALID, also with a wrong token', async () => {
    const { cookie, csrf } = await login(h);
    for (const [method, path, body] of MUTATIONS) {
      for (const token of [undefined, `${csrf.slice(0, -1)}x`]) {
        const r = await call(h, method, path, {
          cookie,
          csrf: token,
          ...(body === undefined ? { raw: Buffer.from('bundle bytes') } : { body }),
        });
        expect(r.status, `${method} ${path} token=${token}`).toBe(403);
        expect(r.json().error.code).toBe('CSRF_INVALID');
      }
    }
    expect(h.box.applies).toBe(0);
    expect(h.box.staged).toEqual([]);
    expect(h.box.settings.autoStage).toBe(false);
    // each refusal is in the audit log, under the session's user
    await new Promise((r) => setTimeout(r, 50));
    const refused = h.box.audits.filter(
      (a) => a.action === 'request.refused' && a.detail.includes('CSRF_INVALID'),
    );
    expect(refused.length).toBe(MUTATIONS.length * 2);
    expect(refused.every((a) => a.user === 'admin' && a.result === 'error')).toBe(true);
    // the session itself still works for reads, and the token from GET /session is the login one
    const s = await call(h, 'GET', '/api/v1/session', { cookie });
    expect(s.status).toBe(200);
    expect(s.json().csrfToken).toBe(csrf);
  });
});

describe('sign-in', () => {
  it('sets a __Host- cookie: HttpOnly, Secure, SameSite=Strict, Path=/', async () => {
    const { res } = await login(h);
    expect(res.status).toBe(200);
    const c = ([] as string[]).concat(res.headers['set-cookie'] ?? [])[0] ?? '';
    expect(c).toMatch(/^__Host-drydock-session=[A-Za-z0-9_-]{43};/);
    expect(c).toContain('HttpOnly');
    expect(c).toContain('Secure');
    expect(c).toContain('SameSite=Strict');
    expect(c).toContain('Path=/');
    expect(c).not.toMatch(/Domain=/i);
    expect(res.json()).toMatchObject({ username: 'admin', mustChange: false, csrfToken: expect.any(String) });
  });

  it('wrong password or unknown user: 401 with the same words, recorded in the audit log', async () => {
    const a = await call(h, 'POST', '/api/v1/login', { body: { username: 'admin', password: 'nope' } });
    const b = await call(h, 'POST', '/api/v1/login', { body: { username: 'root', password: 'nope' } });
    expect(a.status).toBe(401);
    expect(b.status).toBe(401);
    expect(a.json().error.message).toBe(b.json().error.message);
    expect(
      h.box.audits.some(
        (e) =>
          e.action === 'login' &&
          e.result === 'error' &&
          e.detail === 'failed sign-in for an unknown user name',
      ),
    ).toBe(true);
    expect(JSON.stringify(h.box.audits)).not.toContain('nope');
    // a name typed at sign-in is not kept as typed (people type passwords into the user field)
    const typo = 'my secret passphrase in the wrong field';
    await call(h, 'POST', '/api/v1/login', { body: { username: typo, password: 'x' } });
    expect(JSON.stringify(h.box.audits)).not.toContain(typo);
    const dump = JSON.stringify(h.svc.db.prepare('SELECT * FROM service_login_throttle').all());
    expect(dump).not.toContain(typo);
    expect(dump).not.toContain('root');
  });

  it('a malformed body is 400 USAGE, not a crash', async () => {
    const r = await call(h, 'POST', '/api/v1/login', { body: { username: 'admin' } });
    expect(r.status).toBe(400);
    expect(r.json().error.code).toBe('USAGE');
  });

  it('logout ends the session', async () => {
    const { cookie, csrf } = await login(h);
    expect((await call(h, 'POST', '/api/v1/logout', { cookie, csrf, body: {} })).status).toBe(200);
    expect((await call(h, 'GET', '/api/v1/status', { cookie })).status).toBe(401);
  });
});

describe('brute force', () => {
  const attempt = (g: Harness, password: string, from?: string, username = 'admin') =>
    call(g, 'POST', '/api/v1/login', { body: { username, password }, ...(from ? { from } : {}) });

  it('a stranger guessing from another address cannot lock the admin out', async () => {
    const g = await startHarness({ limits: { loginPerAddress: { max: 1000, windowMs: 60_000 } } });
    try {
      // the stranger at 127.0.0.2 keeps trying, waiting out each delay as it grows
      for (let i = 0; i < 12; i++) {
        const r = await attempt(g, `guess-${i}`, '127.0.0.2');
        if (r.status === 429) {
          g.clock.now += Number(r.headers['retry-after']) * 1000;
          continue;
        }
        expect(r.status).toBe(401);
      }
      // the admin at 127.0.0.1 signs in at once, every time
      expect((await attempt(g, PASSWORD)).status).toBe(200);
      // the stranger's own tries still wait (the one right after a counted failure at the latest)
      let next = await attempt(g, 'guess-x', '127.0.0.2');
      if (next.status === 401) next = await attempt(g, 'guess-y', '127.0.0.2');
      expect(next.status).toBe(429);
      expect(next.json().error.code).toBe('RATE_LIMITED');
      expect(Number(next.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await g.close();
    }
  });

  it('the delay grows with each failure and is capped; a 429 does not extend it', async () => {
    const g = await startHarness({ limits: { loginPerAddress: { max: 1000, windowMs: 60_000 } } });
    try {
      const delays: number[] = [];
      for (let i = 0; i < 16; i++) {
        const r = await attempt(g, `guess-${i}`);
        expect(r.status, `try ${i}`).toBe(401);
        const after = Number(r.headers['retry-after'] ?? 0);
        delays.push(after);
        // a flood while waiting: each answered 429, and the wait does not grow from it
        if (after > 0) {
          for (let k = 0; k < 3; k++) expect((await attempt(g, 'flood')).status).toBe(429);
          const still = await attempt(g, 'flood');
          expect(Number(still.headers['retry-after'])).toBeLessThanOrEqual(after);
        }
        g.clock.now += after * 1000;
      }
      expect(delays.slice(0, 4)).toEqual([0, 0, 0, 0]);
      expect(delays.slice(4, 9)).toEqual([1, 2, 4, 8, 16]);
      expect(Math.max(...delays)).toBe(15 * 60);
    } finally {
      await g.close();
    }
  });

  it('an unknown user name is throttled like a known one (no account discovery)', async () => {
    const g = await startHarness({ limits: { loginPerAddress: { max: 1000, windowMs: 60_000 } } });
    try {
      const known: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 7; i++) {
        known.push((await attempt(g, `guess-${i}`, '127.0.0.3')).status);
        unknown.push((await attempt(g, `guess-${i}`, '127.0.0.3', 'nosuchuser')).status);
      }
      expect(unknown).toEqual(known);
      expect(known).toEqual([401, 401, 401, 401, 401, 429, 429]);
    } finally {
      await g.close();
    }
  });

  it("the console's unlock and password reset end every delay of the account", async () => {
    const g = await startHarness({ limits: { loginPerAddress: { max: 1000, windowMs: 60_000 } } });
    try {
      for (let i = 0; i < 6; i++) await attempt(g, `guess-${i}`);
      expect((await attempt(g, PASSWORD)).status).toBe(429);
      const { execFileSync } = await import('node:child_process');
      const out = execFileSync('node', ['bin/drydock.js', 'updater', 'unlock', '--root', g.root, '--json'], {
        encoding: 'utf8',
      });
      expect(JSON.parse(out)).toMatchObject({ ended: 1 });
      expect((await attempt(g, PASSWORD)).status).toBe(200);
    } finally {
      await g.close();
    }
  });

  it('the account locks within a few tries (429), even for the right password then', async () => {
    const g = await startHarness({ limits: { loginPerAddress: { max: 100, windowMs: 60_000 } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++)
        statuses.push(
          (await call(g, 'POST', '/api/v1/login', { body: { username: 'admin', password: `guess-${i}` } }))
            .status,
        );
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5)).toEqual([429, 429, 429]);
      const right = await call(g, 'POST', '/api/v1/login', {
        body: { username: 'admin', password: PASSWORD },
      });
      expect(right.status).toBe(429);
      expect(right.json().error.code).toBe('RATE_LIMITED');
      // the lock ends after its time
      g.clock.now += 6 * 60_000;
      expect(
        (await call(g, 'POST', '/api/v1/login', { body: { username: 'admin', password: PASSWORD } })).status,
      ).toBe(200);
    } finally {
      await g.close();
    }
  });

  it('one address is limited across accounts (429)', async () => {
    const g = await startHarness({ limits: { loginPerAddress: { max: 4, windowMs: 60_000 } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++)
        statuses.push(
          (await call(g, 'POST', '/api/v1/login', { body: { username: `user${i}`, password: 'x' } })).status,
        );
      expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    } finally {
      await g.close();
    }
  });
});

describe('session timeouts', () => {
  it('idle and absolute', async () => {
    const { cookie } = await login(h);
    h.clock.now += 29 * 60_000;
    expect((await call(h, 'GET', '/api/v1/status', { cookie })).status).toBe(200);
    h.clock.now += 31 * 60_000;
    expect((await call(h, 'GET', '/api/v1/status', { cookie })).status).toBe(401);
    const second = await login(h);
    // used every 25 minutes, it still ends after 12 hours
    for (let i = 0; i < 29; i++) {
      h.clock.now += 25 * 60_000;
      const r = await call(h, 'GET', '/api/v1/status', { cookie: second.cookie });
      if (i < 28) expect(r.status, `after ${(i + 1) * 25} min`).toBe(200);
      else expect(r.status, `after ${(i + 1) * 25} min`).toBe(401);
    }
  });
});

describe('forced password change', () => {
  it('every route but the change, logout and session answers 403 until it is changed', async () => {
    const g = await startHarness({ mustChange: true });
    try {
      const { cookie, csrf, res } = await login(g);
      expect(res.json().mustChange).toBe(true);
      for (const path of ['/api/v1/status', '/api/v1/releases', '/api/v1/history', '/api/v1/settings']) {
        const r = await call(g, 'GET', path, { cookie });
        expect(r.status, path).toBe(403);
        expect(r.json().error.code).toBe('PASSWORD_CHANGE_REQUIRED');
      }
      expect((await call(g, 'POST', '/api/v1/update/apply', { cookie, csrf, body: {} })).status).toBe(403);
      expect(g.box.applies).toBe(0);
      expect((await call(g, 'GET', '/api/v1/session', { cookie })).json().mustChange).toBe(true);
      const weak = await call(g, 'POST', '/api/v1/password', {
        cookie,
        csrf,
        body: { currentPassword: PASSWORD, newPassword: 'short' },
      });
      expect(weak.status).toBe(400);
      expect(weak.json().error.code).toBe('PASSWORD_WEAK');
      const wrong = await call(g, 'POST', '/api/v1/password', {
        cookie,
        csrf,
        body: { currentPassword: 'not it', newPassword: 'a brand new passphrase' },
      });
      expect(wrong.status).toBe(403);
      const ok = await call(g, 'POST', '/api/v1/password', {
        cookie,
        csrf,
        body: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' },
      });
      expect(ok.status).toBe(200);
      expect(ok.json().mustChange).toBe(false);
      // the old session ended with the change; the new cookie works
      expect((await call(g, 'GET', '/api/v1/status', { cookie })).status).toBe(401);
      const fresh = (([] as string[]).concat(ok.headers['set-cookie'] ?? [])[0] ?? '').split(';')[0]!;
      expect((await call(g, 'GET', '/api/v1/status', { cookie: fresh })).status).toBe(200);
      expect(g.box.audits.some((e) => e.action === 'password.change' && e.result === 'ok')).toBe(true);
    } finally {
      await g.close();
    }
  });
});

describe('transport and headers', () => {
  it('plain HTTP to the TLS port fails', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: h.port, path: '/api/v1/status' }, (res) =>
        resolve(`answered ${res.statusCode}`),
      );
      req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      req.end();
    });
    expect(outcome).not.toMatch(/^answered 2/);
    expect(outcome).not.toMatch(/^answered 3/);
  });

  // a client that offers what an old or careless one would; Node's defaults would refuse TLS 1.1
  // and these suites by themselves, so the client lowers its own security level, and each refusal
  // has its control: the same client does connect to a server that allows it
  const oldClient = (port: number, o: { maxVersion?: 'TLSv1.1' | 'TLSv1.2'; ciphers?: string }) =>
    new Promise<string>((resolve) => {
      const s = connect({
        host: '127.0.0.1',
        port,
        ca: h.ca,
        servername: 'localhost',
        minVersion: 'TLSv1',
        maxVersion: o.maxVersion ?? 'TLSv1.2',
        ciphers: `${o.ciphers ?? 'DEFAULT'}@SECLEVEL=0`,
      });
      s.on('secureConnect', () => {
        resolve(`connected ${s.getProtocol()} ${s.getCipher().name}`);
        s.end();
      });
      s.on('error', () => resolve('refused'));
    });
  const permissive = async (fn: (port: number) => Promise<string>) => {
    const { createServer } = await import('node:tls');
    const pair = {
      cert: await readFile(join(h.root, 'etc/drydock/tls/cert.pem')),
      key: await readFile(join(h.root, 'etc/drydock/tls/key.pem')),
    };
    const srv = createServer({ ...pair, minVersion: 'TLSv1', ciphers: 'ALL@SECLEVEL=0' }, (c) => c.end());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      return await fn((srv.address() as { port: number }).port);
    } finally {
      srv.close();
    }
  };

  it('TLS below 1.2 is refused (control: the same client reaches a TLS 1.0 server)', async () => {
    expect(await oldClient(h.port, { maxVersion: 'TLSv1.1' })).toBe('refused');
    expect(await permissive((p) => oldClient(p, { maxVersion: 'TLSv1.1' }))).toMatch(
      /^connected TLSv1(\.1)? /,
    );
  });

  it('TLS 1.2 suites with CBC-SHA1, CCM8 or ARIA are refused (control: a server that allows them)', async () => {
    // the box's certificate is ECDSA, so these are the suites a client could agree on with it
    for (const suite of [
      'ECDHE-ECDSA-AES128-SHA',
      'ECDHE-ECDSA-AES256-SHA',
      'ECDHE-ECDSA-AES128-CCM8',
      'ECDHE-ECDSA-ARIA128-GCM-SHA256',
    ]) {
      expect(await oldClient(h.port, { ciphers: suite }), suite).toBe('refused');
      expect(await permissive((p) => oldClient(p, { ciphers: suite })), suite).toBe(
        `connected TLSv1.2 ${suite}`,
      );
    }
    expect(await oldClient(h.port, {})).toMatch(/^connected TLSv1\.[23] /);
  });

  it('the self-signed certificate lasts at most two years and is made again before it ends', async () => {
    const info = validateCertificatePair(
      await readFile(join(h.root, 'etc/drydock/tls/cert.pem'), 'utf8'),
      await readFile(join(h.root, 'etc/drydock/tls/key.pem'), 'utf8'),
    );
    const days = (Date.parse(info.notAfter) - Date.parse(info.notBefore)) / 86_400_000;
    expect(days).toBeLessThanOrEqual(731);
    const dir = join(h.root, 'renew-test');
    const a = await ensureCertificate({ dir, names: ['box'], ips: [] });
    expect((await ensureCertificate({ dir, names: ['box'], ips: [] })).created).toBe(false);
    // 20 days before it ends: made again
    const late = Date.parse(a.info.notAfter) - 20 * 86_400_000;
    const b = await ensureCertificate({ dir, names: ['box'], ips: [], now: () => late });
    expect(b.created).toBe(true);
    // one made for ten years by an older release: made again
    const old = await ensureCertificate({ dir: join(dir, 'old'), names: ['box'], ips: [], days: 3650 });
    expect((Date.parse(old.info.notAfter) - Date.parse(old.info.notBefore)) / 86_400_000).toBeLessThanOrEqual(
      731,
    );
  });

  it('the redirect port only redirects to https', async () => {
    const url = new URL(h.svc.redirectUrl!);
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/api/v1/status'],
      ['POST', '/api/v1/login'],
    ] as const) {
      const r = await new Promise<{ status: number; location?: string; body: string }>((resolve, reject) => {
        const req = httpRequest(
          { host: url.hostname, port: url.port, method, path, headers: { host: 'box.example.test' } },
          (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(r.status).toBe(308);
      expect(r.location).toBe(`https://box.example.test:${h.port}${path}`);
      expect(r.body).toBe('');
    }
  });

  it('security headers and a strict CSP on the page; index.html for page routes; gzip', async () => {
    const r = await call(h, 'GET', '/settings', { headers: { 'accept-encoding': 'gzip' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(r.body).toString()).toContain('<div id="app">');
    const csp = String(r.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(r.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    const js = await call(h, 'GET', '/assets/app-123.js', { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers['content-encoding']).toBe('gzip');
    expect(js.body.length).toBeLessThan(2000);
    // no such route: 404 for everyone (the not-found answer has no data to guard)
    const missing = await call(h, 'GET', '/api/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
    // however spelled, an API path never gets the page
    for (const p of [
      '/API/v1/nothing',
      '//api/v1/x',
      '/x/../api/v1/x',
      '/%61pi/v1/x',
      '/api%2Fv1%2Fx',
      '/Metrics',
    ])
      expect((await call(h, 'GET', p)).status, p).toBe(404);
    // refusals carry the same headers
    expect(missing.headers['content-security-policy']).toBe(csp);
    expect(missing.headers['x-frame-options']).toBe('SAMEORIGIN');
  });

  it('the OpenAPI document lists every route (signed in: it is not public)', async () => {
    expect((await call(h, 'GET', '/api/v1/openapi.json')).status).toBe(401);
    const { cookie } = await login(h);
    const doc = (await call(h, 'GET', '/api/v1/openapi.json', { cookie })).json();
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/api/v1/login',
      '/api/v1/logout',
      '/api/v1/session',
      '/api/v1/password',
      '/api/v1/status',
      '/api/v1/releases',
      '/api/v1/update/check',
      '/api/v1/update/download',
      '/api/v1/update/apply',
      '/api/v1/update/cancel',
      '/api/v1/update/rollback',
      '/api/v1/bundles',
      '/api/v1/history',
      '/api/v1/audit',
      '/api/v1/settings',
      '/api/v1/support-bundle',
      '/api/v1/events',
      '/api/v1/tls',
    ])
      expect(paths, p).toContain(p);
    expect(Object.keys(doc.paths['/api/v1/bundles'].post.requestBody.content)).toEqual([
      'application/octet-stream',
    ]);
    expect(doc.paths['/api/v1/login'].post.requestBody.content['application/json'].schema.required).toEqual([
      'username',
      'password',
    ]);
  });
});
