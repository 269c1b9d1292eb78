// What leaves the service: /metrics only to signed-in clients or the box itself; no secret in the logs.
import { networkInterfaces } from 'node:os';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { call, login, PASSWORD, startHarness } from './helpers.ts';

// a non-loopback address of this machine, to reach the service from "outside" loopback
const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && !a.internal && a.family === 'IPv4')?.address;

describe('/metrics', () => {
  it('from another address: 401 without a session, 200 signed in; from 127.0.0.1 always', async () => {
    expect(external, 'this test needs a non-loopback IPv4 address on the machine').toBeTruthy();
    const h = await startHarness({ host: '0.0.0.0' });
    try {
      const outside = { ...h, host: external! };
      const anon = await call(outside, 'GET', '/metrics');
      expect(anon.status).toBe(401);
      expect(anon.json().error.code).toBe('UNAUTHENTICATED');
      const { cookie } = await login(outside);
      expect((await call(outside, 'GET', '/metrics', { cookie })).status).toBe(200);
      expect((await call(h, 'GET', '/metrics')).status).toBe(200);
    } finally {
      await h.close();
    }
  });
});

describe('logs', () => {
  it('carry no password, session cookie or CSRF token', async () => {
    let text = '';
    const sink = new Writable({
      write(chunk, _e, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const h = await startHarness({ logStdout: sink, mustChange: true });
    try {
      await call(h, 'POST', '/api/v1/login', { body: { username: 'admin', password: 'wrong-password-xyz' } });
      const { cookie, csrf } = await login(h);
      await call(h, 'POST', '/api/v1/password', {
        cookie,
        csrf,
        body: { currentPassword: PASSWORD, newPassword: 'new secret passphrase 42' },
      });
      await call(h, 'POST', '/api/v1/password', {
        cookie,
        csrf,
        body: { currentPassword: 'bad', newPassword: 'x' },
      });
      await call(h, 'PUT', '/api/v1/settings', {
        cookie,
        csrf,
        body: { channelUrl: 'https://u:secretpw@example.test/' },
      });
      await new Promise((r) => setTimeout(r, 100));
      expect(text).toContain('"msg":"request"'); // mutations are logged …
      for (const secret of [
        'wrong-password-xyz',
        PASSWORD,
        'new secret passphrase 42',
        csrf,
        cookie.split('=')[1]!,
        'secretpw',
      ])
        expect(text, `log contains ${secret}`).not.toContain(secret); // … without what they carried
    } finally {
      await h.close();
    }
  });
});
