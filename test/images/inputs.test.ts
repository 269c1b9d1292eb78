// Build inputs: the lock file, local paths, pinned downloads verified against a real local HTTP
// server, and the plain refusal when neither is there.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrydockError } from '../../core/index.ts';
import { type InputsLock, productionPackages, readInputsLock, resolveInputs } from '../../images/index.ts';

let dir: string;
let server: Server;
let base: string;
const BODY = Buffer.from('pretend k3s binary\n'.repeat(1000));
const SHA = createHash('sha256').update(BODY).digest('hex');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'drydock-inputs-'));
  server = createServer((req, res) => {
    if (req.url === '/k3s') res.end(BODY);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const lock = (binary: string | null, images: string | null, url = `${base}/k3s`): InputsLock => ({
  k3s: { version: 'v1.31.4+k3s1', binary: { url, sha256: binary }, airgapImages: { url, sha256: images } },
});

async function code(p: Promise<unknown>): Promise<string> {
  const e = await p.catch((x) => x);
  expect(e).toBeInstanceOf(DrydockError);
  return (e as DrydockError).code;
}

describe('build inputs', () => {
  it('the repository lock pins k3s v1.34.2+k3s1; where it cannot download, the build says what it left out', async () => {
    const l = await readInputsLock('images/inputs.lock.json');
    expect(l.k3s.version).toBe('v1.34.2+k3s1');
    // the binary's sha256 is the one two public sources agree on (docs/images.md)
    expect(l.k3s.binary.sha256).toBe('15811d34187e03fe29d0e46108c42cc33e62cec1b3d9d80f50944536ebcad40a');
    expect(l.k3s.binary.url).toContain('/v1.34.2%2Bk3s1/k3s');
    const urls: string[] = [];
    const r = await resolveInputs({
      lock: l,
      cacheDir: dir,
      allowMissing: true,
      fetch: (u) => {
        urls.push(u);
        return Promise.reject(new Error('no network'));
      },
    });
    // only what is pinned is fetched; the unpinned airgap images are not even tried
    expect(urls).toEqual([l.k3s.binary.url]);
    expect(r.k3sBinary.path).toBeNull();
    expect(r.omitted).toEqual([
      `k3s binary: pinned v1.34.2+k3s1 could not be downloaded (cannot download ${l.k3s.binary.url}: no network; pass --k3s-binary PATH on a machine without access)`,
      'k3s airgap images: not provided (pin its sha256 in images/inputs.lock.json or pass --k3s-images PATH)',
    ]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('an unreachable pinned source stops a strict build; a source on 127.0.0.1 with no listener is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const e = await resolveInputs({
      lock: lock(SHA, null, `http://127.0.0.1:${port}/k3s`),
      cacheDir: dir,
      allowMissing: false,
    }).catch((x) => x);
    expect((e as DrydockError).code).toBe('BUILD_INPUT_MISSING');
    expect((e as DrydockError).message).toContain('could not be downloaded');
    expect((e as DrydockError).message).toContain('--k3s-binary PATH');
  });

  it('a strict build stops and names what to provide', async () => {
    const e = await resolveInputs({ lock: lock(null, null), cacheDir: dir, allowMissing: false }).catch(
      (x) => x,
    );
    expect((e as DrydockError).code).toBe('BUILD_INPUT_MISSING');
    expect((e as DrydockError).message).toContain('--k3s-binary PATH');
    expect((e as DrydockError).message).toContain('--k3s-images PATH');
  });

  it('local paths win and are hashed; a missing local path is refused', async () => {
    const f = join(dir, 'k3s');
    writeFileSync(f, BODY);
    const r = await resolveInputs({
      lock: lock(null, null),
      cacheDir: dir,
      k3sBinary: f,
      k3sImages: f,
      allowMissing: false,
    });
    expect(r.k3sBinary).toMatchObject({ path: f, source: 'local', sha256: SHA });
    expect(r.omitted).toEqual([]);
    expect(
      await code(
        resolveInputs({
          lock: lock(null, null),
          cacheDir: dir,
          k3sBinary: join(dir, 'nope'),
          allowMissing: true,
        }),
      ),
    ).toBe('BUILD_INPUT_MISSING');
  });

  it('pinned downloads are verified while they stream; a wrong hash leaves nothing in the cache', async () => {
    const cache = join(dir, 'cache1');
    const r = await resolveInputs({ lock: lock(SHA, null), cacheDir: cache, allowMissing: true });
    expect(r.k3sBinary).toMatchObject({ source: 'pinned', path: join(cache, 'downloads', SHA) });
    expect(r.omitted).toHaveLength(1);
    const cache2 = join(dir, 'cache2');
    const wrong = 'f'.repeat(64);
    expect(await code(resolveInputs({ lock: lock(wrong, null), cacheDir: cache2, allowMissing: true }))).toBe(
      'BLOB_DIGEST_MISMATCH',
    );
    expect(readdirSync(join(cache2, 'downloads'))).toEqual([]);
    // a source that answers 404 is as unreachable as one that does not answer: left out, named
    const r404 = await resolveInputs({
      lock: lock(SHA, null, `${base}/missing`),
      cacheDir: cache2,
      allowMissing: true,
    });
    expect(r404.k3sBinary.path).toBeNull();
    expect(r404.omitted[0]).toContain(`cannot download ${base}/missing: HTTP 404`);
    expect(readdirSync(join(cache2, 'downloads'))).toEqual([]);
  });

  it('a malformed lock file is refused with the offending field', async () => {
    const p = join(dir, 'bad.lock.json');
    writeFileSync(
      p,
      JSON.stringify({
        k3s: {
          version: 'x',
          binary: { url: 'u', sha256: 'nothex' },
          airgapImages: { url: 'u', sha256: null },
        },
      }),
    );
    const e = await readInputsLock(p).catch((x) => x);
    expect((e as DrydockError).code).toBe('CONFIG_INVALID');
    expect((e as DrydockError).message).toContain('/k3s/binary/sha256');
  });

  it('the app payload carries production packages only', async () => {
    const pkgs = await productionPackages('.');
    expect(pkgs).toContain('node_modules/fastify');
    expect(pkgs).toContain('node_modules/better-sqlite3');
    expect(pkgs).not.toContain('node_modules/vitest');
    expect(pkgs).not.toContain('node_modules/vite');
  });
});
