import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../updater/blobstore/index.ts';
import { buildBundle } from '../../updater/bundle/index.ts';
import { ChannelClient, publishBundle, refreshChannel } from '../../updater/channel/index.ts';
import { releaseBlobs } from '../../updater/release/index.ts';
import { initKeys, rotateKeys } from '../../updater/tuf/index.ts';
import { writeRelease } from '../bundle/fixtures.ts';
import { type StaticServer, serveDir } from './server.ts';

let dir: string;
let keys: string;
let repo: string;
let server: StaticServer;
const bundles: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'channel-'));
  keys = join(dir, 'keys');
  repo = join(dir, 'repo');
  await initKeys({ dir: keys });
  for (const [v, from, layer] of [
    ['1.0.0', '>=0.0.0', randomBytes(64 * 1024)],
    ['1.1.0', '>=1.0.0 <1.1.0', randomBytes(3 * 1024 * 1024)],
  ] as const) {
    const spec = await writeRelease(join(dir, v), { version: v, upgradeFrom: from, webLayer: layer });
    bundles[v] = join(dir, `${v}.drydock`);
    await buildBundle({
      specPath: spec,
      keysDir: keys,
      outPath: bundles[v],
      ...(v === '1.1.0' ? { deltaFrom: bundles['1.0.0'] } : {}),
    });
  }
  await publishBundle({ bundlePath: bundles['1.0.0']!, repoDir: repo, keysDir: keys });
  server = await serveDir(repo);
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const client = (cache: string, extra: Partial<ConstructorParameters<typeof ChannelClient>[0]> = {}) =>
  new ChannelClient({
    url: server.url,
    trustedRoot: join(keys, 'roots', '1.root.json'),
    cacheDir: cache,
    ...extra,
  });

describe('channel publish / ChannelClient', () => {
  it('lays the repository out with consistent snapshots, as the TUF spec names files', async () => {
    const md = await readdir(join(repo, 'metadata'));
    expect(md).toEqual(
      expect.arrayContaining(['1.root.json', 'timestamp.json', '1.snapshot.json', '1.targets.json']),
    );
    const stable = await readdir(join(repo, 'targets', 'stable'));
    expect(stable.some((n) => /^[a-f0-9]{64}\.index\.json$/.test(n))).toBe(true);
    const root = JSON.parse(await readFile(join(repo, 'metadata', '1.root.json'), 'utf8'));
    expect(root.signed.consistent_snapshot).toBe(true);
  });

  it('a tuf-js client sees the published release, then the next one after a delta publish', async () => {
    const cache = await mkdtemp(join(dir, 'cache-'));
    const c = client(cache);
    expect((await c.refresh()).map((r) => r.version)).toEqual(['1.0.0']);
    // the delta's left-out blobs are already in the repo from 1.0.0
    await publishBundle({ bundlePath: bundles['1.1.0']!, repoDir: repo, keysDir: keys });
    const releases = await c.refresh();
    expect(releases.map((r) => r.version)).toEqual(['1.0.0', '1.1.0']);
    expect(releases[1]!.upgradeFrom).toBe('>=1.0.0 <1.1.0');
    // the client asked for versioned metadata and hash-prefixed targets: consistent snapshots in use
    const paths = server.requests.map((q) => q.path);
    expect(paths.some((p) => /^\/metadata\/\d+\.snapshot\.json$/.test(p))).toBe(true);
    expect(paths.some((p) => /^\/metadata\/\d+\.targets\.json$/.test(p))).toBe(true);
    expect(paths.some((p) => /^\/targets\/stable\/[a-f0-9]{64}\.index\.json$/.test(p))).toBe(true);
    expect(paths).not.toContain('/targets/stable/index.json');
  });

  it('refuses to publish a version again with different content, and changes nothing', async () => {
    const other = await writeRelease(join(dir, 'dup'), { version: '1.0.0', webLayer: randomBytes(100) });
    const out = join(dir, 'dup.drydock');
    await buildBundle({ specPath: other, keysDir: keys, outPath: out });
    const before = await readFile(join(repo, 'metadata', 'timestamp.json'));
    const blobsBefore = (await readdir(join(repo, 'blobs', 'sha256'))).length;
    await expect(publishBundle({ bundlePath: out, repoDir: repo, keysDir: keys })).rejects.toMatchObject({
      code: 'CHANNEL_CONFLICT',
    });
    expect(await readFile(join(repo, 'metadata', 'timestamp.json'))).toEqual(before);
    expect((await readdir(join(repo, 'blobs', 'sha256'))).length).toBe(blobsBefore);
  });

  it('downloads the blobs the store lacks, resuming with Range after the server dies mid-blob', async () => {
    const cache = await mkdtemp(join(dir, 'cache-'));
    const c = client(cache);
    const releases = await c.refresh();
    const r110 = releases.find((r) => r.version === '1.1.0')!;
    const big = releaseBlobs(r110).reduce((a, b) => (b.size > a.size ? b : a));
    expect(big.size).toBe(3 * 1024 * 1024);
    const store = await new BlobStore(join(dir, 'box-blobs')).open();

    // the server crashes after 1 MiB of the big layer
    const port = server.port;
    let crashed!: Promise<void>;
    server.cutAfter(big.digest.slice(7), 1024 * 1024, () => {
      crashed = server.close();
    });
    await expect(c.fetchBlobs(r110, store)).rejects.toMatchObject({ code: 'NETWORK_FAILED' });
    await crashed;
    const partial = await stat(store.partialPath(big.digest));
    expect(partial.size).toBeGreaterThan(0);
    expect(partial.size).toBeLessThan(big.size);
    expect(await store.has(big.digest)).toBe(false);

    // the box "restarts": a new store object over the same folder keeps the partial file
    server = await serveDir(repo, port);
    const store2 = await new BlobStore(join(dir, 'box-blobs')).open();
    const res = await client(cache).fetchBlobs(r110, store2);
    expect(res.resumedBytes).toBe(partial.size);
    const resumed = server.requests.find((q) => q.path.endsWith(big.digest.slice(7)));
    expect(resumed).toMatchObject({ range: `bytes=${partial.size}-`, status: 206 });
    for (const b of releaseBlobs(r110)) {
      expect(await store2.has(b.digest, b.size)).toBe(true);
      expect(await store2.verify(b.digest)).toBe(true);
    }
    // nothing left to fetch the second time
    expect((await c.fetchBlobs(r110, store2)).fetched).toBe(0);
  });

  it('a corrupt blob on the server is refused and not kept', async () => {
    const cache = await mkdtemp(join(dir, 'cache-'));
    const c = client(cache);
    const r100 = (await c.refresh()).find((r) => r.version === '1.0.0')!;
    const victim = r100.manifests[0]!.blob;
    const path = join(repo, 'blobs', 'sha256', victim.digest.slice(7));
    const good = await readFile(path);
    const bad = Buffer.from(good);
    bad[0]! ^= 1;
    await writeFile(path, bad);
    try {
      const store = await new BlobStore(join(dir, 'box-corrupt')).open();
      await expect(c.fetchBlobs(r100, store)).rejects.toMatchObject({ code: 'BLOB_DIGEST_MISMATCH' });
      expect(await store.has(victim.digest)).toBe(false);
    } finally {
      await writeFile(path, good);
    }
  });

  it('refresh re-signs snapshot and timestamp; a rotated targets key reaches clients through the root chain', async () => {
    const cache = await mkdtemp(join(dir, 'cache-'));
    await client(cache).refresh();
    await rotateKeys({ dir: keys, role: 'targets' });
    const r = await refreshChannel({ repoDir: repo, keysDir: keys });
    expect(r.resignedTargets).toBe(true);
    const releases = await client(cache).refresh();
    expect(releases.map((x) => x.version)).toEqual(['1.0.0', '1.1.0']);
    const cachedRoot = JSON.parse(await readFile(join(cache, 'metadata', 'root.json'), 'utf8'));
    expect(cachedRoot.signed.version).toBe(2);
  });

  it('an older timestamp served after a newer one was seen is a rollback', async () => {
    const cache = await mkdtemp(join(dir, 'cache-'));
    const old = await readFile(join(repo, 'metadata', 'timestamp.json'));
    await refreshChannel({ repoDir: repo, keysDir: keys });
    await client(cache).refresh(); // the client now trusts the newer timestamp
    const newer = await readFile(join(repo, 'metadata', 'timestamp.json'));
    await writeFile(join(repo, 'metadata', 'timestamp.json'), old);
    try {
      await expect(client(cache).refresh()).rejects.toMatchObject({ code: 'METADATA_ROLLBACK' });
    } finally {
      await writeFile(join(repo, 'metadata', 'timestamp.json'), newer);
    }
  });

  it('an unreachable channel is NETWORK_FAILED', async () => {
    const cache = await mkdtemp(join(dir, 'cache-'));
    const down = await serveDir(repo);
    const url = down.url;
    await down.close();
    const c = new ChannelClient({
      url,
      trustedRoot: join(keys, 'roots', '1.root.json'),
      cacheDir: cache,
      timeoutMs: 5000,
    });
    await expect(c.refresh()).rejects.toMatchObject({ code: 'NETWORK_FAILED' });
  });

  it('expired channel metadata is refused with METADATA_EXPIRED', async () => {
    const cache = await mkdtemp(join(dir, 'cache-'));
    // signed two days ago with a one-day timestamp: expired now
    await refreshChannel({ repoDir: repo, keysDir: keys, now: new Date(Date.now() - 2 * 86_400_000) });
    try {
      await expect(client(cache).refresh()).rejects.toMatchObject({ code: 'METADATA_EXPIRED' });
    } finally {
      await refreshChannel({ repoDir: repo, keysDir: keys });
    }
  });
});
