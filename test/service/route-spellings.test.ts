// Deny by default, proven from outside: every route the service registered is called signed out
// (no cookie, a forged cookie, with and without a CSRF header) through many spellings of its path
// (percent-encoded letters, double slashes, dot segments, case, trailing slash, encoded slash,
// absolute form). Nothing but 401/403/404 may come back, and nothing on the box may change: the
// real engine's state.db (every table but the sign-in bookkeeping) and the TLS files are compared.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo } from '../../examples/demo/index.ts';
import { initBox } from '../../updater/engine/index.ts';
import { type RunningService, startService } from '../../updater/service/index.ts';
import { call, login } from './helpers.ts';

const PASSWORD = 'first boot passphrase';
let root: string;
let svc: RunningService;
let h: { port: number; ca: Buffer };

beforeAll(async () => {
  const demo = await buildDemo();
  root = await mkdtemp(join(tmpdir(), 'drydock-spellings-'));
  const pw = join(root, 'pw.txt');
  await writeFile(pw, `${PASSWORD}\n`, { mode: 0o600 });
  await initBox({
    root,
    trustPath: demo.rootPath,
    bundlePath: demo.bundles['1.0.0'],
    cluster: 'standin',
    adminPasswordFile: pw,
  });
  const web = join(root, 'web');
  await rm(web, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(join(web, 'assets'), { recursive: true }));
  await writeFile(join(web, 'index.html'), '<!doctype html><title>Drydock</title>');
  svc = await startService({
    root,
    listen: { host: '127.0.0.1', port: 0 },
    redirect: null,
    webDir: web,
    logStdout: null,
    schedule: false,
    // the per-address sign-in limit is not what this test is about
    limits: { loginPerAddress: { max: 100_000, windowMs: 60_000 } },
  });
  h = {
    port: (svc.app.server.address() as { port: number }).port,
    ca: await readFile(join(root, 'etc/drydock/tls/cert.pem')),
  };
}, 300_000);

afterAll(async () => {
  await svc?.close();
  if (root) await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

/** What the box holds, as one digest: every table but the sign-in bookkeeping, and the TLS pair. */
async function boxDigest(): Promise<string> {
  const db = new Database(join(root, 'var/lib/drydock/state.db'), { readonly: true, fileMustExist: true });
  const hash = createHash('sha256');
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[];
    for (const { name } of tables) {
      if (name === 'service_sessions' || name === 'service_login_throttle' || name === 'service_meta')
        continue;
      hash.update(`${name}\n${JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all())}\n`);
    }
  } finally {
    db.close();
  }
  for (const f of ['cert.pem', 'key.pem']) hash.update(await readFile(join(root, 'etc/drydock/tls', f)));
  return hash.digest('hex');
}

const enc = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
const encUpper = (c: string) => enc(c).toUpperCase();

/** Ways to write a path that a router or a proxy might take for the same route. */
function spellings(path: string): string[] {
  const segs = path.split('/').slice(1);
  const out = new Set<string>([path]);
  // one letter of each segment encoded, in both cases of hex digits, then every letter
  segs.forEach((s, i) => {
    for (const e of [enc, encUpper]) {
      const letter = s.search(/[a-z]/i);
      if (letter < 0) continue;
      const t = [...segs];
      t[i] = s.slice(0, letter) + e(s[letter]!) + s.slice(letter + 1);
      out.add(`/${t.join('/')}`);
    }
  });
  out.add(`/${segs.map((s) => [...s].map((c) => (/[a-z]/i.test(c) ? enc(c) : c)).join('')).join('/')}`);
  out.add(path.toUpperCase());
  out.add(`/${segs.map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join('/')}`);
  out.add(`/${path}`);
  out.add(path.replace('/v1/', '//v1/'));
  out.add(`${path}/`);
  out.add(`${path}//`);
  out.add(path.replace('/v1/', '/./v1/'));
  out.add(path.replace('/v1/', '/v1/../v1/'));
  out.add(`/x/..${path}`);
  out.add(path.replace('/v1/', '/%2e/v1/'));
  out.add(path.replace('/v1/', '/v1/%2e%2e/v1/'));
  out.add(`/x/%2e%2e${path}`);
  out.add(path.replaceAll('/', '%2F').replace(/^%2F/, '/'));
  out.add(path.replaceAll('/', '%2f').replace(/^%2f/, '/'));
  out.add(`/${segs[0]}%2F${segs.slice(1).join('/')}`);
  out.add(path.replaceAll('/', '\\'));
  out.add(`${path};`);
  out.add(`${path};x=1`);
  out.add(`${path}%3B`);
  out.add(`${path}%00`);
  out.add(`${path}%20`);
  out.add(`${path}?x=1`);
  out.add(`${path}#x`);
  out.add(`${path}.json`);
  out.add(`https://127.0.0.1${path}`);
  out.add(`/%25${enc('a').slice(1)}${path.slice(2)}`); // double-encoded first letter
  return [...out];
}

const ALLOWED = new Set([401, 403, 404]);

describe('deny by default, through every spelling of every route', () => {
  it('the service knows which routes are public, and they are few', () => {
    const pub = svc.routes.filter((r) => r.auth === 'public').map((r) => `${r.method} ${r.url}`);
    // sign-in and the page's files; nothing else
    expect(pub.filter((r) => !/^(GET|HEAD) \//.test(r) || r.includes('/api/')).sort()).toEqual([
      'POST /api/v1/login',
    ]);
    expect(svc.routes.length).toBeGreaterThan(15);
  });

  it('signed out, every route answers 401/403/404 and the box is unchanged', async () => {
    const before = await boxDigest();
    const forged = `__Host-drydock-session=${randomBytes(32).toString('base64url')}`;
    const seen = new Map<number, number>();
    const bad: string[] = [];
    // /metrics also answers callers on the box itself (127.0.0.1), by design: tested below
    const routes = svc.routes.filter((r) => r.auth === 'session');
    expect(routes.length).toBeGreaterThan(15);
    for (const r of routes) {
      const path = r.url.replace(/:[A-Za-z]+/g, '1').replace(/\*$/, 'x');
      for (const spelled of spellings(path)) {
        for (const cookie of [undefined, forged]) {
          for (const csrf of [undefined, randomBytes(16).toString('hex')]) {
            const mutation = r.method !== 'GET' && r.method !== 'HEAD';
            const res = await call(h, r.method, spelled, {
              ...(cookie ? { cookie } : {}),
              ...(csrf ? { csrf } : {}),
              ...(mutation
                ? {
                    raw: Buffer.from(
                      JSON.stringify({ autoStage: true, channelUrl: 'https://evil.example/' }),
                    ),
                    headers: { 'content-type': 'application/json' },
                  }
                : {}),
            }).catch((err: Error) => ({ status: -1, body: Buffer.from(err.message) }));
            seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
            if (!ALLOWED.has(res.status))
              bad.push(
                `${r.method} ${spelled} (${cookie ? 'forged cookie' : 'no cookie'}${csrf ? ', csrf' : ''}) → ${res.status} ${res.body.subarray(0, 80).toString()}`,
              );
          }
        }
      }
    }
    expect(bad).toEqual([]);
    // the test did reach the auth check, not only the 404 handler
    expect(seen.get(401) ?? 0).toBeGreaterThan(routes.length * 4);
    expect(await boxDigest()).toBe(before);
  }, 300_000);

  it('/metrics: signed out it answers only the box itself, and carries no secret', async () => {
    const m = svc.routes.filter((r) => r.auth === 'metrics').map((r) => `${r.method} ${r.url}`);
    expect(m.sort()).toEqual(['GET /metrics', 'HEAD /metrics']);
    const r = await call(h, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.body.toString()).not.toMatch(/csrf|password|scrypt|BEGIN/i);
  });

  it('signed in, the same spellings reach only the routes they name (control)', async () => {
    const { cookie } = await login(h, PASSWORD);
    // the control: the real path works for a signed-in admin (403: the first password must change)
    const direct = await call(h, 'GET', '/api/v1/status', { cookie });
    expect(direct.status).toBe(403);
    expect(direct.json().error.code).toBe('PASSWORD_CHANGE_REQUIRED');
    // and an encoded spelling of it is the same route, so the same check answers
    const spelled = await call(h, 'GET', '/%61pi/v1/status', { cookie });
    expect(spelled.status).toBe(403);
  });
});
