// A content-addressed store: blobs/sha256/<hex>. A blob enters through a writer that hashes and
// counts while it writes to a temp file in the same filesystem, and becomes visible only by an
// atomic rename after its digest and size matched. So a reader never sees a partial blob, and a
// crash leaves at most a file under tmp/ that the next open removes.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { durableRename } from '../../core/durable.ts';
import { DrydockError } from '../../core/index.ts';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

export function hexOf(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new DrydockError('BUNDLE_RELEASE_INVALID', `not a sha256 digest: ${digest}`);
  return m[1]!;
}

export interface BlobWriter extends Writable {
  /** Verifies digest and size, fsyncs and renames into place. Idempotent if the blob already exists. */
  commit(): Promise<void>;
  /** Removes the temp file; safe to call after a failure or twice. */
  abort(): Promise<void>;
  readonly bytesWritten: number;
}

export class BlobStore {
  readonly dir: string;
  private readonly tmpDir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.tmpDir = join(dir, 'tmp');
  }

  /** Creates the folders and clears temp files left by a crash (partial downloads are kept: they resume). */
  async open(): Promise<this> {
    await mkdir(join(this.dir, 'sha256'), { recursive: true });
    await mkdir(join(this.dir, 'partial'), { recursive: true });
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    return this;
  }

  path(digest: string): string {
    return join(this.dir, 'sha256', hexOf(digest));
  }

  async has(digest: string, size?: number): Promise<boolean> {
    try {
      const s = await stat(this.path(digest));
      return size === undefined || s.size === size;
    } catch {
      return false;
    }
  }

  async list(): Promise<string[]> {
    const names = await readdir(join(this.dir, 'sha256')).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async size(digest: string): Promise<number> {
    return (await stat(this.path(digest))).size;
  }

  read(digest: string): NodeJS.ReadableStream {
    return createReadStream(this.path(digest));
  }

  async remove(digest: string): Promise<void> {
    await unlink(this.path(digest)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  /** Re-hashes a stored blob; used by integrity checks, not on the hot path. */
  async verify(digest: string): Promise<boolean> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(this.path(digest))) hash.update(chunk as Buffer);
    return `sha256:${hash.digest('hex')}` === digest;
  }

  /** A writer for one blob of the given digest and size. Writing more than `size` bytes fails at once. */
  writer(digest: string, size: number): BlobWriter {
    const hex = hexOf(digest);
    const tmp = join(this.tmpDir, `${hex}.${randomBytes(6).toString('hex')}`);
    const final = join(this.dir, 'sha256', hex);
    const hash = createHash('sha256');
    let file: WriteStream | undefined;
    let written = 0;
    let settled = false;
    // a write error of the temp file (ENOSPC above all) is kept and reported as itself, not as a
    // digest or size mismatch later
    let fileError: Error | undefined;
    const fileReady = () => {
      if (!file) {
        file = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
        file.on('error', (e) => {
          fileError ??= e;
        });
      }
      return file;
    };
    const writeChunk = (chunk: Buffer, cb: (e?: Error | null) => void) => {
      if (fileError) return cb(fileError);
      written += chunk.length;
      if (written > size) {
        cb(
          new DrydockError('BLOB_SIZE_MISMATCH', `blob ${digest} is larger than the ${size} bytes declared`),
        );
        return;
      }
      hash.update(chunk);
      const f = fileReady();
      if (f.write(chunk)) cb();
      else {
        const done = () => {
          f.off('drain', done);
          f.off('error', done);
          cb(fileError);
        };
        f.once('drain', done);
        f.once('error', done);
      }
    };
    const closeFile = () =>
      new Promise<void>((resolve, reject) => {
        const f = fileReady();
        f.once('error', reject);
        // end's callback gets the stream's error (e.g. ENOSPC on the last write)
        f.end((e?: Error | null) => (e ? reject(e) : resolve()));
      });
    const w = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, cb) {
        writeChunk(chunk, cb);
      },
      writev(chunks, cb) {
        let i = 0;
        const next = (e?: Error | null) => {
          if (e || i === chunks.length) return cb(e);
          writeChunk(chunks[i++]!.chunk as Buffer, next);
        };
        next();
      },
    }) as BlobWriter;
    Object.defineProperty(w, 'bytesWritten', { get: () => written });
    w.commit = async () => {
      if (settled) return;
      await new Promise<void>((resolve, reject) => {
        if (w.writableFinished) return resolve();
        w.once('error', reject);
        w.end(() => resolve());
      });
      await closeFile().catch((e: Error) => {
        fileError ??= e;
      });
      settled = true;
      if (fileError) {
        await unlink(tmp).catch(() => {});
        throw fileError;
      }
      const got = `sha256:${hash.digest('hex')}`;
      // the hash saw the bytes handed to the file; the file itself must hold all of them too
      const onDisk = written === size ? (await stat(tmp)).size : written;
      if (written !== size || onDisk !== size) {
        await unlink(tmp).catch(() => {});
        throw new DrydockError('BLOB_SIZE_MISMATCH', `blob ${digest} has ${onDisk} bytes, ${size} declared`);
      }
      if (got !== digest) {
        await unlink(tmp).catch(() => {});
        throw new DrydockError('BLOB_DIGEST_MISMATCH', `blob ${digest} hashes to ${got}`);
      }
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await durableRename(tmp, final);
    };
    w.abort = async () => {
      settled = true;
      w.destroy();
      if (file && !file.closed) await new Promise<void>((r) => file!.close(() => r()));
      await unlink(tmp).catch(() => {});
    };
    return w;
  }

  /**
   * Where a resumable download of this blob accumulates (appended to across crashes and restarts).
   * It is not a blob until commitPartial has verified it.
   */
  partialPath(digest: string): string {
    return join(this.dir, 'partial', hexOf(digest));
  }

  /** Verifies a completed partial file (size, then digest) and moves it into place; removes it if wrong. */
  async commitPartial(digest: string, size: number): Promise<void> {
    const p = this.partialPath(digest);
    const s = await stat(p);
    const drop = async (e: DrydockError) => {
      await unlink(p).catch(() => {});
      throw e;
    };
    if (s.size !== size)
      return drop(
        new DrydockError('BLOB_SIZE_MISMATCH', `blob ${digest} has ${s.size} bytes, ${size} declared`),
      );
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== digest)
      return drop(new DrydockError('BLOB_DIGEST_MISMATCH', `blob ${digest} hashes to ${got}`));
    const fh = await open(p, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await durableRename(p, this.path(digest));
  }

  /** Copies a blob in from a stream; resolves when it is stored and verified. */
  async put(digest: string, size: number, source: AsyncIterable<Buffer | Uint8Array>): Promise<void> {
    if (await this.has(digest, size)) {
      // still consume the source so that a tar reader can move on
      for await (const _ of source) {
        /* drain */
      }
      return;
    }
    const w = this.writer(digest, size);
    try {
      for await (const chunk of source) {
        if (!w.write(chunk))
          await new Promise<void>((r, j) => {
            w.once('drain', r);
            w.once('error', j);
          });
      }
      await w.commit();
    } catch (err) {
      await w.abort();
      throw err;
    }
  }
}
