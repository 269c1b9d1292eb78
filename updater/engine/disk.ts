// Free space, through an injectable statfs so tests can make the disk "full" without a device.
import { statfs as fsStatfs } from 'node:fs/promises';
import { asDrydockError, DrydockError, formatBytes } from '../../core/index.ts';

export type StatFs = (path: string) => Promise<{ bavail: number; bsize: number; blocks: number }>;

export const systemStatfs: StatFs = async (path) => {
  const s = await fsStatfs(path);
  return { bavail: Number(s.bavail), bsize: Number(s.bsize), blocks: Number(s.blocks) };
};

export async function diskInfo(
  statfs: StatFs,
  path: string,
): Promise<{ path: string; totalBytes: number; freeBytes: number }> {
  const s = await statfs(path);
  return { path, totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
}

/** DISK_FULL unless `need` bytes plus the margin are free at `path`. */
export async function requireSpace(
  statfs: StatFs,
  path: string,
  need: number,
  margin: number,
  what: string,
): Promise<void> {
  const { freeBytes } = await diskInfo(statfs, path);
  if (freeBytes < need + margin)
    throw new DrydockError(
      'DISK_FULL',
      `not enough free disk for ${what}: ${formatBytes(need)} needed plus a ${formatBytes(margin)} margin, ${formatBytes(freeBytes)} free`,
    );
}

/** Bytes under a folder (for sizing the next snapshot from the last one). */
export async function folderBytes(dir: string): Promise<number> {
  const { readdir, lstat } = await import('node:fs/promises');
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) await walk(p);
      else total += (await lstat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return total;
}

/** Like asDrydockError, but finds ENOSPC anywhere in the cause chain (a reader may wrap it). */
export function asDiskAware(e: unknown): DrydockError {
  for (let c: unknown = e, i = 0; c && i < 10; c = (c as { cause?: unknown }).cause, i++) {
    const code = (c as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return new DrydockError('DISK_FULL', `no space left on the device (${(c as Error).message})`, {
        cause: e,
      });
  }
  return asDrydockError(e);
}
