// vitest runs test files in parallel worker processes that all want the same demo build: one
// builds, the others wait on this lock.
import { DrydockError, withFileLock as lock } from '../../core/index.ts';

export function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 600_000): Promise<T> {
  return lock(path, fn, {
    timeoutMs,
    pollMs: 100,
    onTimeout: (owner) =>
      new DrydockError('UPDATE_IN_PROGRESS', `timed out waiting for the lock ${path} (pid ${owner})`),
  });
}
