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
  it('the repository lock parses; unpinned sources are not downloaded', async () => {
    const l = await readInputsLock('images/inputs.lock.json');
    expect(l.k3s.version).toMatch(/^v1\./);
    const r = await resolveInputs({
      lock: l,
      cacheDir: dir,
      allowMissing: true,
      fetch: () => Promise.reject(new Error('no network')),
    });
    expect(r.k3sBinary.path).toBeNull();
    expect(r.omitted).toEqual([
      'k3s binary: not provided (pin its sha256 in images/inputs.lock.json or pass --k3s-binary PATH)',
      'k3s airgap images: not provided (pin its sha256 in images/inputs.lock.json or pass --k3s-images PATH)',
    ]);
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
    expect(
      await code(
        resolveInputs({ lock: lock(SHA, null, `${base}/missing`), cacheDir: cache2, allowMissing: true }),
      ),
    ).toBe('NETWORK_FAILED');
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
