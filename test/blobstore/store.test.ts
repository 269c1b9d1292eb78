import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobStore } from '../../updater/blobstore/index.ts';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
async function* chunks(b: Buffer, n = 7) {
  for (let i = 0; i < b.length; i += n) yield b.subarray(i, i + n);
}

describe('BlobStore', () => {
  let dir: string;
  let store: BlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blobstore-'));
    store = await new BlobStore(dir).open();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('stores a blob under its digest and reports it', async () => {
    const b = Buffer.from('hello blobs, hello world');
    await store.put(digestOf(b), b.length, chunks(b));
    expect(await store.has(digestOf(b), b.length)).toBe(true);
    expect(await store.list()).toEqual([digestOf(b)]);
    expect(await store.verify(digestOf(b))).toBe(true);
  });

  it('refuses wrong content, a short blob and a long blob, and leaves nothing behind', async () => {
    const b = Buffer.from('the real content');
    const other = Buffer.from('the fake content');
    await expect(store.put(digestOf(b), b.length, chunks(other))).rejects.toMatchObject({
      code: 'BLOB_DIGEST_MISMATCH',
    });
    await expect(store.put(digestOf(b), b.length + 1, chunks(b))).rejects.toMatchObject({
      code: 'BLOB_SIZE_MISMATCH',
    });
    await expect(store.put(digestOf(b), b.length - 1, chunks(b))).rejects.toMatchObject({
      code: 'BLOB_SIZE_MISMATCH',
    });
    expect(await store.list()).toEqual([]);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('clears temp files from a crash when opened', async () => {
    const b = Buffer.from('partial');
    const w = store.writer(digestOf(b), b.length);
    w.write(b.subarray(0, 3));
    await new Promise((r) => setTimeout(r, 20));
    expect((await readdir(join(dir, 'tmp'))).length).toBe(1);
    await new BlobStore(dir).open();
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});
