// Every bad input of the issue: each is refused with its stable code, and nothing is written
// anywhere (the test folder's tree is unchanged; a BlobStore given to the reader stays empty).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../updater/blobstore/index.ts';
import { buildBundle, type ReadOptions, readBundle } from '../../updater/bundle/index.ts';
import {
  generateSigningKey,
  initKeys,
  Metadata,
  rotateKeys,
  serialize,
  signerFor,
} from '../../updater/tuf/index.ts';
import { writeRelease } from './fixtures.ts';
import { type Entry, flip, flipSigned, pack, unpack } from './tarkit.ts';

let dir: string;
const k: Record<'A' | 'B' | 'T' | 'R', string> = { A: '', B: '', T: '', R: '' };
const good: Record<'A' | 'B' | 'T' | 'R' | 'delta' | 'expired', string> = {
  A: '',
  B: '',
  T: '',
  R: '',
  delta: '',
  expired: '',
};
let entries: Entry[];
let n = 0;

async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(`${relative(root, p)}:${e.isDirectory() ? 'd' : (await stat(p)).size}`);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out.sort();
}

const rootA = () => join(k.A, 'root.json');

/** Refused with `code` both when only verifying and when reading into a store; nothing written. */
async function expectRefused(bundle: string, code: string, opts: Partial<ReadOptions> = {}) {
  const storeDir = join(dir, `store-${n++}`);
  const store = await new BlobStore(storeDir).open();
  const before = await tree(dir);
  await expect(readBundle(bundle, { trustedRoot: rootA(), blobs: null, ...opts })).rejects.toMatchObject({
    code,
  });
  await expect(readBundle(bundle, { trustedRoot: rootA(), blobs: store, ...opts })).rejects.toMatchObject({
    code,
  });
  expect(await tree(dir)).toEqual(before);
  expect(await store.list()).toEqual([]);
  await rm(storeDir, { recursive: true });
}

async function variant(name: string, change: (es: Entry[]) => Entry[]): Promise<string> {
  const out = join(dir, 'bad', `${name}.drydock`);
  await pack(change(entries.map((e) => ({ ...e }))), out);
  return out;
}

const idx = (es: Entry[], name: string | RegExp) =>
  es.findIndex((e) => (typeof name === 'string' ? e.name === name : name.test(e.name)));
const BLOB = /^blobs\/sha256\//;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hostile-'));
  await mkdir(join(dir, 'bad'));
  for (const key of ['A', 'B', 'R', 'T'] as const) {
    k[key] = join(dir, `keys-${key}`);
    good[key] = join(dir, `good-${key}.drydock`);
  }
  good.delta = join(dir, 'delta.drydock');
  good.expired = join(dir, 'expired.drydock');
  for (const key of ['A', 'B', 'R'] as const) await initKeys({ dir: k[key] });
  await initKeys({ dir: k.T, threshold: 2 });
  await rotateKeys({ dir: k.R, role: 'root' });
  const spec1 = await writeRelease(join(dir, 'r1'), { version: '1.0.0', webLayer: randomBytes(40_000) });
  const spec2 = await writeRelease(join(dir, 'r2'), { version: '1.1.0', webLayer: randomBytes(30_000) });
  for (const key of ['A', 'B', 'T', 'R'] as const)
    await buildBundle({
      specPath: spec1,
      keysDir: k[key],
      outPath: good[key],
    });
  await buildBundle({
    specPath: spec2,
    keysDir: k.A,
    outPath: good.delta,
    deltaFrom: good.A,
  });
  await buildBundle({
    specPath: spec1,
    keysDir: k.A,
    outPath: good.expired,
    now: new Date(Date.now() - 400 * 86_400_000),
  });
  entries = await unpack(good.A);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('readBundle accepts the good ones', () => {
  it('a tar-stream repack of a good bundle still verifies (the reader is not tied to our writer)', async () => {
    const r = await readBundle(await variant('repacked', (es) => es), { trustedRoot: rootA(), blobs: null });
    expect(r.release.version).toBe('1.0.0');
    expect(r.verified).toBe(entries.filter((e) => BLOB.test(e.name)).length);
  });
  it('threshold 2 and a rotated root (chain 1 → 2) verify', async () => {
    await readBundle(good.T, { trustedRoot: join(k.T, 'root.json'), blobs: null });
    const r = await readBundle(good.R, { trustedRoot: join(k.R, 'roots', '1.root.json'), blobs: null });
    expect(r.roots).toHaveLength(1);
    expect((r.roots[0] as { signed: { version: number } }).signed.version).toBe(2);
  });
});

describe('order of checks', () => {
  it('with bad signatures the store is never asked to take a blob (metadata is checked first)', async () => {
    class RecordingStore extends BlobStore {
      puts = 0;
      override async put(digest: string, size: number, source: AsyncIterable<Buffer | Uint8Array>) {
        this.puts++;
        return super.put(digest, size, source);
      }
    }
    const b = await variant('order-bad-targets', (es) => {
      const i = idx(es, 'metadata/targets.json');
      es[i]!.data = flipSigned(es[i]!.data);
      return es;
    });
    const store = await new RecordingStore(join(dir, 'store-order')).open();
    await expect(readBundle(b, { trustedRoot: rootA(), blobs: store })).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
    expect(store.puts).toBe(0);
    // the same store takes blobs from the good bundle: the recording works
    await readBundle(good.A, { trustedRoot: rootA(), blobs: store });
    expect(store.puts).toBeGreaterThan(0);
    await rm(join(dir, 'store-order'), { recursive: true });
  });
});

describe('bit flips', () => {
  it('in a blob', async () => {
    const b = await variant('flip-blob', (es) => {
      const i = idx(es, BLOB);
      es[i]!.data = flip(es[i]!.data, 5);
      return es;
    });
    await expectRefused(b, 'BLOB_DIGEST_MISMATCH');
  });
  it('in the last blob, after others were stored: the stored ones are removed again', async () => {
    const b = await variant('flip-last-blob', (es) => {
      const last = es.length - 1;
      es[last]!.data = flip(es[last]!.data, es[last]!.data.length - 1);
      return es;
    });
    await expectRefused(b, 'BLOB_DIGEST_MISMATCH');
  });
  it('in release.json', async () => {
    const b = await variant('flip-release', (es) => {
      const i = idx(es, 'release.json');
      es[i]!.data = flip(es[i]!.data, 40);
      return es;
    });
    await expectRefused(b, 'BUNDLE_SIGNATURE_INVALID');
  });
  for (const role of ['timestamp', 'snapshot', 'targets'])
    it(`in metadata/${role}.json (signed part and signature)`, async () => {
      const signed = await variant(`flip-${role}`, (es) => {
        const i = idx(es, `metadata/${role}.json`);
        es[i]!.data = flipSigned(es[i]!.data);
        return es;
      });
      await expectRefused(signed, 'SIGNATURE_INVALID');
      const sig = await variant(`flip-${role}-sig`, (es) => {
        const i = idx(es, `metadata/${role}.json`);
        es[i]!.data = flip(es[i]!.data, es[i]!.data.indexOf('"sig":"') + 20);
        return es;
      });
      await expectRefused(sig, 'SIGNATURE_INVALID');
    });
  it('in metadata/2.root.json of a rotated key set', async () => {
    const es = await unpack(good.R);
    const i = idx(es, 'metadata/2.root.json');
    expect(i).toBeGreaterThan(0);
    es[i]!.data = flipSigned(es[i]!.data);
    const b = join(dir, 'bad', 'flip-root.drydock');
    await pack(es, b);
    await expectRefused(b, 'SIGNATURE_INVALID', { trustedRoot: join(k.R, 'roots', '1.root.json') });
  });
  it('that breaks the JSON of a metadata file', async () => {
    const b = await variant('flip-json', (es) => {
      const i = idx(es, 'metadata/snapshot.json');
      es[i]!.data = flip(es[i]!.data, 0); // "{" → "z"
      return es;
    });
    await expectRefused(b, 'METADATA_INVALID');
  });
});

describe('the archive itself', () => {
  it('truncated: inside a header, inside a blob, before the end marker', async () => {
    const full = await readFile(good.A);
    const blobAt = full.indexOf(entries.find((e) => BLOB.test(e.name))!.data);
    for (const [name, at] of [
      ['header', 700],
      ['blob', blobAt + 3],
      ['marker', full.length - 1024],
      ['marker-half', full.length - 600],
    ] as const) {
      const b = join(dir, 'bad', `trunc-${name}.drydock`);
      await writeFile(b, full.subarray(0, at));
      await expectRefused(b, 'BUNDLE_TRUNCATED');
    }
  });
  it('trailing junk after the end of the archive', async () => {
    const b = join(dir, 'bad', 'trailing.drydock');
    await writeFile(b, Buffer.concat([await readFile(good.A), Buffer.from('junk')]));
    await expectRefused(b, 'BUNDLE_TRAILING_DATA');
  });
  it('zero padding after the end (as tar pads records) is fine', async () => {
    const b = join(dir, 'bad', 'padded.drydock');
    await writeFile(b, Buffer.concat([await readFile(good.A), Buffer.alloc(8192)]));
    await readBundle(b, { trustedRoot: rootA(), blobs: null });
  });
  it('not a tar at all, and a tar that is not a bundle', async () => {
    const b = join(dir, 'bad', 'random.drydock');
    await writeFile(b, randomBytes(4096));
    await expectRefused(b, 'BUNDLE_NOT_A_BUNDLE');
    await expectRefused(await variant('no-marker', (es) => es.slice(1)), 'BUNDLE_NOT_A_BUNDLE');
  });
  const unsafe: [string, Entry][] = [
    ['dot-dot', { name: '../../etc/evil', data: Buffer.from('x') }],
    ['dot-dot-inside', { name: 'blobs/../../evil', data: Buffer.from('x') }],
    ['absolute', { name: '/etc/evil', data: Buffer.from('x') }],
    [
      'symlink',
      { name: 'blobs/sha256/link', type: 'symlink', linkname: '/etc/passwd', data: Buffer.alloc(0) },
    ],
    ['hardlink', { name: 'release2.json', type: 'link', linkname: 'release.json', data: Buffer.alloc(0) }],
    ['char-device', { name: 'metadata/null', type: 'character-device', data: Buffer.alloc(0) }],
    ['block-device', { name: 'metadata/sda', type: 'block-device', data: Buffer.alloc(0) }],
    ['directory', { name: 'blobs/', type: 'directory', data: Buffer.alloc(0) }],
    ['fifo', { name: 'fifo', type: 'fifo', data: Buffer.alloc(0) }],
  ];
  for (const [name, entry] of unsafe) {
    it(`an entry that is ${name} (early, and after the blobs)`, async () => {
      await expectRefused(
        await variant(`${name}-early`, (es) => [es[0]!, entry, ...es.slice(1)]),
        'BUNDLE_UNSAFE_ENTRY',
      );
      await expectRefused(await variant(`${name}-late`, (es) => [...es, entry]), 'BUNDLE_UNSAFE_ENTRY');
    });
  }
  it('a symlink named like a blob the release needs', async () => {
    const b = await variant('symlink-blob', (es) => {
      const i = idx(es, BLOB);
      es[i] = { name: es[i]!.name, type: 'symlink', linkname: '/etc/passwd', data: Buffer.alloc(0) };
      return es;
    });
    await expectRefused(b, 'BUNDLE_UNSAFE_ENTRY');
  });
  it('duplicate names: a blob twice, release.json twice', async () => {
    await expectRefused(
      await variant('dup-blob', (es) => [...es, { ...es[idx(es, BLOB)]! }]),
      'BUNDLE_DUPLICATE_ENTRY',
    );
    await expectRefused(
      await variant('dup-release', (es) => {
        const i = idx(es, 'release.json');
        return [...es.slice(0, i + 1), { ...es[i]! }, ...es.slice(i + 1)];
      }),
      'BUNDLE_DUPLICATE_ENTRY',
    );
  });
  it('oversized metadata, blob, entry count and bundle beyond the limits', async () => {
    await expectRefused(good.A, 'BUNDLE_TOO_LARGE', { limits: { maxMetadataBytes: 300 } });
    await expectRefused(good.A, 'BUNDLE_TOO_LARGE', { limits: { maxBlobBytes: 1000 } });
    await expectRefused(good.A, 'BUNDLE_TOO_LARGE', { limits: { maxEntries: 6 } });
    await expectRefused(good.A, 'BUNDLE_TOO_LARGE', { limits: { maxBundleBytes: 10_000 } });
  });
  it('junk root entries before release.json: refused once the unsigned head passes its cap', async () => {
    // each under the per-file limit, together 20 MiB: read before any signature can be checked
    const junk = await variant('junk-roots', (es) => {
      const at = es.findIndex((e) => e.name.startsWith('metadata/'));
      const roots = Array.from({ length: 6 }, (_, i) => ({
        name: `metadata/${1000 + i}.root.json`,
        data: Buffer.alloc(3.5 * 2 ** 20, 0x20),
      }));
      return [...es.slice(0, at), ...roots, ...es.slice(at)];
    });
    const rss = process.memoryUsage.rss();
    await expectRefused(junk, 'BUNDLE_TOO_LARGE');
    // the default cap is 16 MiB: far less than the 400 MiB junk that once took 537 MB RSS
    expect(process.memoryUsage.rss() - rss).toBeLessThan(200 * 2 ** 20);
    // many small roots: the count is capped too
    const many = await variant('many-roots', (es) => {
      const at = es.findIndex((e) => e.name.startsWith('metadata/'));
      const roots = Array.from({ length: 300 }, (_, i) => ({
        name: `metadata/${1000 + i}.root.json`,
        data: Buffer.from('{}'),
      }));
      return [...es.slice(0, at), ...roots, ...es.slice(at)];
    });
    await expectRefused(many, 'BUNDLE_TOO_LARGE');
    // the control: the good bundle passes under the same default limits
    await expect(readBundle(good.A, { trustedRoot: rootA(), blobs: null })).resolves.toBeTruthy();
  });
  it('a blob before release.json and its signatures', async () => {
    const b = await variant('blob-first', (es) => {
      const i = idx(es, BLOB);
      const [blob] = es.splice(i, 1);
      return [es[0]!, blob!, ...es.slice(1)];
    });
    await expectRefused(b, 'BUNDLE_NOT_A_BUNDLE');
  });
});

describe('blobs against release.json', () => {
  it('a blob larger or smaller than declared', async () => {
    const larger = await variant('blob-larger', (es) => {
      const i = idx(es, BLOB);
      es[i]!.data = Buffer.concat([es[i]!.data, Buffer.from('!')]);
      return es;
    });
    await expectRefused(larger, 'BLOB_SIZE_MISMATCH');
    const smaller = await variant('blob-smaller', (es) => {
      const i = idx(es, BLOB);
      es[i]!.data = es[i]!.data.subarray(1);
      return es;
    });
    await expectRefused(smaller, 'BLOB_SIZE_MISMATCH');
  });
  it('a missing blob', async () => {
    await expectRefused(
      await variant('blob-missing', (es) => es.filter((_, i) => i !== idx(es, BLOB))),
      'BLOB_MISSING',
    );
  });
  it('a blob the release does not name', async () => {
    const extra = randomBytes(10);
    const hex = (await import('node:crypto')).createHash('sha256').update(extra).digest('hex');
    await expectRefused(
      await variant('blob-extra', (es) => [...es, { name: `blobs/sha256/${hex}`, data: extra }]),
      'BLOB_UNEXPECTED',
    );
  });
  it('a delta whose left-out blobs the box does not hold', async () => {
    // verifying alone is fine (the left-out blobs are reported) ...
    const r = await readBundle(good.delta, { trustedRoot: rootA(), blobs: null });
    expect(r.omitted.length).toBeGreaterThan(0);
    // ... but reading it into an empty store is not, and the store stays empty
    const store = await new BlobStore(join(dir, 'store-empty')).open();
    const before = await tree(dir);
    await expect(readBundle(good.delta, { trustedRoot: rootA(), blobs: store })).rejects.toMatchObject({
      code: 'BLOB_MISSING',
    });
    expect(await store.list()).toEqual([]);
    expect(await tree(dir)).toEqual(before);
    await rm(join(dir, 'store-empty'), { recursive: true });
  });
  it('a delta reads into a store that holds the older release', async () => {
    const store = await new BlobStore(join(dir, 'store-delta')).open();
    await readBundle(good.A, { trustedRoot: rootA(), blobs: store });
    const r = await readBundle(good.delta, { trustedRoot: rootA(), blobs: store });
    expect(r.release.version).toBe('1.1.0');
    for (const d of r.omitted) expect(await store.has(d)).toBe(true);
    await rm(join(dir, 'store-delta'), { recursive: true });
  });
});

describe('signatures, keys and expiry', () => {
  it('a signature by an unknown key', async () => {
    const b = await variant('unknown-key', (es) => {
      const i = idx(es, 'metadata/targets.json');
      const md = Metadata.fromJSON('targets' as never, JSON.parse(es[i]!.data.toString()));
      md.signatures = {};
      md.sign(signerFor(generateSigningKey()));
      es[i]!.data = serialize(md);
      return es;
    });
    await expectRefused(b, 'UNKNOWN_KEY');
  });
  it('threshold not met (one of two targets signatures)', async () => {
    const es = await unpack(good.T);
    const i = idx(es, 'metadata/targets.json');
    const doc = JSON.parse(es[i]!.data.toString());
    expect(doc.signatures).toHaveLength(2);
    doc.signatures = doc.signatures.slice(0, 1);
    es[i]!.data = Buffer.from(JSON.stringify(doc));
    const b = join(dir, 'bad', 'threshold.drydock');
    await pack(es, b);
    await expectRefused(b, 'THRESHOLD_NOT_MET', { trustedRoot: join(k.T, 'root.json') });
  });
  it('the same signature twice does not count twice', async () => {
    const es = await unpack(good.T);
    const i = idx(es, 'metadata/timestamp.json');
    const doc = JSON.parse(es[i]!.data.toString());
    doc.signatures = [doc.signatures[0], doc.signatures[0]];
    es[i]!.data = Buffer.from(JSON.stringify(doc));
    const b = join(dir, 'bad', 'threshold-dup.drydock');
    await pack(es, b);
    await expectRefused(b, 'METADATA_INVALID', { trustedRoot: join(k.T, 'root.json') });
  });
  it('expired metadata, and an expired trusted root', async () => {
    await expectRefused(good.expired, 'METADATA_EXPIRED');
    await expectRefused(good.A, 'METADATA_EXPIRED', { now: new Date(Date.now() + 400 * 86_400_000) });
  });
  it('metadata of another key set mixed in', async () => {
    const other = await unpack(good.B);
    for (const role of ['targets', 'snapshot', 'timestamp']) {
      const b = await variant(`mixed-${role}`, (es) => {
        es[idx(es, `metadata/${role}.json`)]!.data = other[idx(other, `metadata/${role}.json`)]!.data;
        return es;
      });
      await expectRefused(b, 'UNKNOWN_KEY');
    }
    // all three from the other set: still not signed by keys the trusted root names
    const all = await variant('mixed-all', (es) => {
      for (const role of ['targets', 'snapshot', 'timestamp'])
        es[idx(es, `metadata/${role}.json`)]!.data = other[idx(other, `metadata/${role}.json`)]!.data;
      return es;
    });
    await expectRefused(all, 'UNKNOWN_KEY');
    // a whole bundle of the other set against our root
    await expectRefused(good.B, 'UNKNOWN_KEY');
  });
  it('a root of another key set posing as the next root version', async () => {
    const es = await unpack(good.R);
    const foreign = await readFile(join(k.R, 'roots', '2.root.json'));
    const b = join(dir, 'bad', 'foreign-root.drydock');
    // good.A's metadata with R's version-2 root in front: not signed by A's root keys
    const mine = entries.map((e) => ({ ...e }));
    mine.splice(1, 0, { name: 'metadata/2.root.json', data: foreign });
    await pack(mine, b);
    await expectRefused(b, 'ROOT_CHAIN_BROKEN');
    expect(es.length).toBeGreaterThan(0);
  });
  it('a root file whose name and version disagree', async () => {
    const es = await unpack(good.R);
    es[idx(es, 'metadata/2.root.json')]!.name = 'metadata/3.root.json';
    const b = join(dir, 'bad', 'root-renamed.drydock');
    await pack(es, b);
    await expectRefused(b, 'ROOT_CHAIN_BROKEN', { trustedRoot: join(k.R, 'roots', '1.root.json') });
  });
  it('a root chain with a gap (version 3 without 2)', async () => {
    const keys = join(dir, 'keys-gap');
    await initKeys({ dir: keys });
    await rotateKeys({ dir: keys, role: 'targets' });
    await rotateKeys({ dir: keys, role: 'root' });
    const full = join(dir, 'gap-full.drydock');
    await buildBundle({ specPath: join(dir, 'r1', 'release.yaml'), keysDir: keys, outPath: full });
    const trustedRoot = join(keys, 'roots', '1.root.json');
    expect((await readBundle(full, { trustedRoot, blobs: null })).roots).toHaveLength(2);
    const es = (await unpack(full)).filter((e) => e.name !== 'metadata/2.root.json');
    const b = join(dir, 'bad', 'root-gap.drydock');
    await pack(es, b);
    await expectRefused(b, 'ROOT_CHAIN_BROKEN', { trustedRoot });
    await rm(keys, { recursive: true });
    await rm(full);
  });
});
