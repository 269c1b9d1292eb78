// Writes that claim to survive a power cut: the file is fsynced before it is renamed into place,
// and its folder after (a rename is only durable once the folder's entry is on disk). Proven from
// outside with strace in test/durability/fsync-order.test.ts.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** fsync of a file or folder by path. */
export async function syncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync of every file and folder under `dir`, the folders after their contents, `dir` last. */
export async function syncTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await syncTree(p);
    else if (e.isFile()) await syncPath(p);
  }
  await syncPath(dir);
}

/** rename, then fsync of the target's folder. */
export async function durableRename(from: string, to: string): Promise<void> {
  await rename(from, to);
  await syncPath(dirname(to));
}

/**
 * Crash-safe file replacement: a temp file in the same folder (a dot name: k3s's deploy folder
 * ignores it), fsynced, renamed over the target, the folder fsynced. A reader sees the old file or
 * the new one, never a torn one.
 */
export async function atomicWrite(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  await durableRename(tmp, path);
}
