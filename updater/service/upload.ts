// Offline bundle upload: the raw request body streams into a spool file under the box root, never
// into memory, with a size limit. A refused, broken or abandoned upload leaves no file behind.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DrydockError } from '../../core/index.ts';

export function spoolDir(root: string): string {
  return join(root, 'var', 'lib', 'drydock', 'spool');
}

/** Removes what a crash may have left in the spool (called at start). */
export async function cleanSpool(root: string): Promise<void> {
  const dir = spoolDir(root);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const f of await readdir(dir)) await rm(join(dir, f), { force: true, recursive: true });
}

/**
 * Streams `body` to a new spool file and returns its path. Refuses (413) a declared or actual size
 * above `limit`, and a declared size the disk cannot hold (507). On any failure the file is gone.
 */
export async function spoolUpload(opts: {
  root: string;
  body: NodeJS.ReadableStream;
  declaredLength: number | null;
  limit: number;
  /** ends the upload when nothing arrives for this long (0: never) */
  stallMs?: number;
  onProgress?: (done: number, total: number | null) => void;
}): Promise<{ path: string; bytes: number }> {
  const { limit, declaredLength } = opts;
  if (declaredLength !== null && declaredLength > limit)
    throw new DrydockError(
      'BUNDLE_TOO_LARGE',
      `the upload is ${declaredLength} bytes; the limit is ${limit} bytes`,
    );
  const dir = spoolDir(opts.root);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (declaredLength !== null) {
    const fs = await statfs(dir);
    if (declaredLength > fs.bavail * fs.bsize)
      throw new DrydockError(
        'DISK_FULL',
        `the upload needs ${declaredLength} bytes; ${fs.bavail * fs.bsize} are free`,
      );
  }
  const path = join(dir, `upload-${Date.now()}-${randomBytes(6).toString('hex')}.drydock`);
  let bytes = 0;
  let lastReport = 0;
  let stalled = false;
  let stallTimer: NodeJS.Timeout | null = null;
  const armStall = () => {
    if (!opts.stallMs) return;
    if (stallTimer) clearTimeout(stallTimer);
    stallTimer = setTimeout(() => {
      stalled = true;
      const body = opts.body as NodeJS.ReadableStream & { destroy?: (e?: Error) => void };
      body.destroy?.(new Error('upload stalled'));
      counter.destroy(new Error('upload stalled'));
    }, opts.stallMs);
    stallTimer.unref();
  };
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      armStall();
      bytes += chunk.length;
      if (bytes > limit) {
        cb(new DrydockError('BUNDLE_TOO_LARGE', `the upload passed the limit of ${limit} bytes`));
        return;
      }
      if (opts.onProgress && (bytes - lastReport >= 1 << 20 || bytes === declaredLength)) {
        lastReport = bytes;
        opts.onProgress(bytes, declaredLength);
      }
      cb(null, chunk);
    },
  });
  try {
    armStall();
    await pipeline(opts.body, counter, createWriteStream(path, { mode: 0o600, flags: 'wx' }));
    if (declaredLength !== null && bytes !== declaredLength)
      throw new DrydockError(
        'BUNDLE_TRUNCATED',
        `the upload ended after ${bytes} of ${declaredLength} bytes`,
      );
    return { path, bytes };
  } catch (err) {
    await rm(path, { force: true });
    if (stalled)
      throw new DrydockError(
        'BUNDLE_TRUNCATED',
        `the upload sent nothing for ${Math.round((opts.stallMs ?? 0) / 1000)} s after ${bytes} bytes and was ended`,
      );
    if (err instanceof DrydockError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      throw new DrydockError('DISK_FULL', 'no space left for the upload');
    // the client went away or the connection broke
    throw new DrydockError('BUNDLE_TRUNCATED', 'the upload was interrupted before it ended', { cause: err });
  } finally {
    if (stallTimer) clearTimeout(stallTimer);
  }
}
