// The image pipeline end to end, with the real tools: `drydock build ova` (mmdebstrap base, Packer
// 1.6.6 qemu source under TCG running appliance/provision, seal, OVA), then boot the golden disk and
// the VMDKs taken out of the OVA in QEMU with an OVF ISO transport setting hostname and admin
// password: the banner is on the console, the data disk is mounted, the updater answers HTTPS on a
// forwarded port, and the admin password signs in (a wrong one does not).
// The base OS is cached in .cache/images by the hash of its inputs, shared with `npm run build:ova`.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuildResult,
  bootVm,
  buildImage,
  freePort,
  makeOvfEnvIso,
  type VmOptions,
} from '../../../images/index.ts';

const CACHE = resolve('.cache/images');
const PASSWORD = 'Correct-Horse-7-Battery';
const HOSTNAME = 'box-under-test';
// TCG on a busy 2-core machine: every Node start on the box (first boot, banner, updater) takes
// minutes there; an idle machine boots to the admin page far sooner (bench/images.ts measures it)
const LOGIN_WAIT_MS = 25 * 60_000;
const HTTPS_WAIT_MS = 15 * 60_000;
let dir: string;
let built: BuildResult;
let iso: string;

function https(
  port: number,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string; cookie: string[] }> {
  return new Promise((resolveP, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        rejectUnauthorized: false, // the box's first certificate is self-signed
        headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
        timeout: 15_000,
      },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () =>
          resolveP({ status: res.statusCode ?? 0, text, cookie: res.headers['set-cookie'] ?? [] }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

async function waitHttps(port: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await https(port, 'GET', '/api/v1/session');
      return r.status;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 3000));
  }
  throw new Error(`the updater did not answer HTTPS within ${timeoutMs / 1000} s (${last})`);
}

async function bootAndCheck(name: string, disks: VmOptions['disks']): Promise<void> {
  const port = await freePort();
  const consoleLog = join(dir, `${name}-console.log`);
  const vm = bootVm({ disks, iso, consoleLog, accel: built.accel ?? 'tcg', httpsPort: port, memoryMb: 3072 });
  try {
    const text = await vm.waitConsole(new RegExp(`${HOSTNAME} login:`), LOGIN_WAIT_MS);
    expect(text).toMatch(/Admin page:\s+https:\/\//);
    expect(text).toContain(`https://${HOSTNAME}/`);
    expect(text).toMatch(/Sign in as "admin" with the password given/);
    expect(text).toMatch(/Mounted .*var-lib-drydock\\x2ddata\.mount/);
    await waitHttps(port, HTTPS_WAIT_MS);
    if (!built.omitted.some((o) => o.startsWith('admin page'))) {
      const page = await https(port, 'GET', '/');
      expect(page.status).toBe(200);
      expect(page.text).toMatch(/<html/i);
    }
    const bad = await https(port, 'POST', '/api/v1/login', {
      username: 'admin',
      password: 'Wrong-password-123',
    });
    expect(bad.status).toBe(401);
    const good = await https(port, 'POST', '/api/v1/login', { username: 'admin', password: PASSWORD });
    expect(good.status, good.text).toBe(200);
    expect(good.cookie.join(';')).toMatch(/=/);
  } catch (err) {
    const tail = (await vm.console()).split('\n').slice(-25).join('\n');
    throw new Error(`${(err as Error).message}\n--- console tail (${consoleLog}) ---\n${tail}`);
  } finally {
    await vm.stop();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'drydock-e2e-images-'));
  mkdirSync(CACHE, { recursive: true });
  const log = join(dir, 'build.log');
  // DRYDOCK_IMAGES_REUSE=<result.json>: boot what an earlier `drydock build ova --json` made (a
  // developer's shortcut; CI always builds)
  const reuse = process.env.DRYDOCK_IMAGES_REUSE;
  if (reuse) {
    built = JSON.parse(readFileSync(reuse, 'utf8')) as BuildResult;
    iso = await makeOvfEnvIso(dir, { hostname: HOSTNAME, admin_password: PASSWORD });
    return;
  }
  built = await buildImage({
    target: 'ova',
    repo: '.',
    cacheDir: CACHE,
    distDir: dir,
    onStage: (s) => appendFileSync(log, `==> ${s}\n`),
    onLine: (l) => appendFileSync(log, `${l}\n`),
  });
  iso = await makeOvfEnvIso(dir, { hostname: HOSTNAME, admin_password: PASSWORD });
}, 45 * 60_000);

afterAll(() => {
  if (dir && !process.env.DRYDOCK_KEEP)
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('drydock build ova, booted', () => {
  it('names what the CI build left out', () => {
    expect(built.artifact).toMatch(/\.ova$/);
    for (const o of built.omitted) expect(o).toMatch(/^[^:]+: /);
  });

  it(
    'the golden disk boots: banner, data disk, HTTPS updater, admin password',
    async () => {
      await bootAndCheck('disk', [
        { path: built.disk!, format: 'qcow2' },
        { path: built.dataDisk!, format: 'qcow2' },
      ]);
    },
    LOGIN_WAIT_MS + HTTPS_WAIT_MS + 60_000,
  );

  it(
    'the VMDKs inside the OVA boot the same way',
    async () => {
      const x = join(dir, 'ova');
      mkdirSync(x);
      execFileSync('tar', ['xf', built.artifact, '-C', x]);
      await bootAndCheck('ova', [
        { path: join(x, `${built.name}-disk1.vmdk`), format: 'vmdk' },
        { path: join(x, `${built.name}-disk2.vmdk`), format: 'vmdk' },
      ]);
    },
    LOGIN_WAIT_MS + HTTPS_WAIT_MS + 60_000,
  );
});
