// A cross-process file lock: an O_EXCL lock file holding the owner's pid. A lock whose owner died
// (crash, SIGKILL — or a zombie its parent has not reaped) is taken over.
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DrydockError } from './errors.ts';
import { readProcStat } from './proc.ts';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // a stat we cannot read (another mount namespace, hidepid): the signal said it exists
  return readProcStat(pid)?.state !== 'Z';
}

export interface FileLockOptions {
  timeoutMs: number;
  pollMs: number;
  /** the error thrown when the lock is still held after timeoutMs */
  onTimeout: (owner: number) => DrydockError;
}

export async function withFileLock<T>(path: string, fn: () => Promise<T>, o: FileLockOptions): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const start = Date.now();
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      // an empty file is a lock being written right now; only a dead owner's lock is stale
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && !processAlive(owner)) {
        await unlink(path).catch(() => {});
        continue;
      }
      if (Date.now() - start > o.timeoutMs) throw o.onTimeout(owner);
      await new Promise((r) => setTimeout(r, o.pollMs));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
  }
}
