// Writes under the box root: atomic (temp + rename), with the mode set before the rename so a
// secret is never readable by others, not even for a moment.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export function under(root: string, boxPath: string): string {
  return join(root, boxPath);
}

export async function writeAtomic(path: string, data: string, mode = 0o644, dirMode?: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, ...(dirMode ? { mode: dirMode } : {}) });
  if (dirMode) await chmod(dirname(path), dirMode);
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data, { mode });
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
