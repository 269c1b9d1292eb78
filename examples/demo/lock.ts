// A cross-process file lock (O_EXCL lock file holding the owner's pid). vitest runs test files in
// parallel worker processes that all want the same demo build; one builds, the others wait.
// A lock whose owner died (crash, SIGKILL) is taken over.
import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { DrydockError } from '../../core/index.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // a killed process its parent has not reaped yet is a zombie: it holds nothing any more
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 600_000): Promise<T> {
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
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
        await unlink(path).catch(() => {});
        continue;
      }
      if (Date.now() - start > timeoutMs)
        throw new DrydockError('UPDATE_IN_PROGRESS', `timed out waiting for the lock ${path} (pid ${owner})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
  }
}
