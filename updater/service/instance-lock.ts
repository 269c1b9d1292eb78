// One updater service per box root. Two would each clean the other's upload spool and run the
// schedule twice. The lock is an abstract Unix socket named after the root: the kernel frees it
// when its process ends however it ends (SIGKILL, power cut), so a stale lock never blocks a start.
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';

export interface InstanceLock {
  release(): Promise<void>;
}

function lockName(root: string): string {
  const real = (() => {
    try {
      return realpathSync(root);
    } catch {
      return root;
    }
  })();
  return `\0drydock-updater-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`;
}

export async function acquireInstanceLock(root: string): Promise<InstanceLock> {
  const server: Server = createServer((s) => s.destroy());
  const pidFile = join(root, 'var', 'lib', 'drydock', 'updater.pid');
  await new Promise<void>((resolve, reject) => {
    server.once('error', async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') return reject(err);
      const pid = (await readFile(pidFile, 'utf8').catch(() => '')).trim();
      reject(
        new DrydockError(
          'UPDATE_IN_PROGRESS',
          `another updater service already serves ${root}${pid ? ` (pid ${pid})` : ''}; stop it first (systemctl stop drydock-updater)`,
        ),
      );
    });
    server.listen(lockName(root), () => resolve());
  });
  server.unref();
  await writeFile(pidFile, `${process.pid}\n`, { mode: 0o600 }).catch(() => {});
  return {
    async release() {
      await rm(pidFile, { force: true });
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
