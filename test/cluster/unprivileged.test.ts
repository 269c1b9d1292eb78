// The stand-in without root: containers in user namespaces (mapped root), images unpacked by
// umoci --rootless. Needs root only to become an unprivileged user for the test (setpriv).
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const NOBODY = 65534;
const tmp = mkdtempSync(join(tmpdir(), 'standin-user-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));

describe.runIf(process.getuid?.() === 0)('stand-in as an unprivileged user', () => {
  it('runs demo 1.1.0 and sees 1.2.0 crash, as uid 65534', () => {
    chownSync(tmp, NOBODY, NOBODY);
    const out = execFileSync(
      'setpriv',
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        process.execPath,
        '--import',
        'tsx',
        join(import.meta.dirname, 'unprivileged-run.ts'),
        join(tmp, 'box'),
      ],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, HOME: tmp, TMPDIR: tmp },
        cwd: join(import.meta.dirname, '../..'),
      },
    );
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.uid).toBe(NOBODY);
    expect(r.ready).toMatchObject({ ready: true, message: '1/1 ready' });
    expect(r.probe.ok).toBe(true);
    expect(r.broken.ready).toBe(false);
    expect(r.broken.message).toContain('container web CrashLoopBackOff (exit 1');
  });
});
