// core's one exec helper and one /proc/<pid>/stat reader, against real processes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { exec, mustSucceed, notInstalled, parseProcStat, readProcStat } from '../../core/index.ts';

describe('exec', () => {
  it('resolves with the exit code and both streams, also for a non-zero exit', async () => {
    expect(await exec('sh', ['-c', 'echo out; echo err >&2; exit 3'])).toEqual({
      code: 3,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    expect((await exec('sh', ['-c', 'pwd'], { cwd: '/tmp' })).stdout).toBe('/tmp\n');
    expect((await exec('sh', ['-c', 'echo $X'], { env: { X: 'y' } })).stdout).toBe('y\n');
  });

  it('a missing program is code 127 saying so; a timeout kills with SIGKILL (128 + 9)', async () => {
    const missing = await exec('drydock-no-such-tool', []);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/^drydock-no-such-tool: not installed/);
    const slow = await exec('sleep', ['30'], { timeoutMs: 100 });
    expect(slow.code).toBe(137);
    expect(slow.stderr).toContain('timed out after 100 ms');
  });

  it('writes `input` to stdin and closes it; a program that never reads it is judged by its exit', async () => {
    expect((await exec('wc', ['-c'], { input: 'x'.repeat(200_000) })).stdout.trim()).toBe('200000');
    expect((await exec('cat', [])).stdout).toBe(''); // no input: stdin closed at once, cat ends
    expect((await exec('sh', ['-c', 'exit 4'], { input: 'y'.repeat(1 << 20) })).code).toBe(4);
  });

  it('hands each line to onLine as it comes, from both streams, the last one without a newline too', async () => {
    const lines: string[] = [];
    const r = await exec('sh', ['-c', 'printf "a\\r\\nb\\n"; echo c >&2; printf d'], {
      onLine: (l) => lines.push(l),
    });
    expect(r.code).toBe(0);
    expect(lines.sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('an aborted signal ends the program with SIGTERM (128 + 15), and SIGKILL if it ignores that', async () => {
    const stop = new AbortController();
    const running = exec('sleep', ['30'], { signal: stop.signal });
    stop.abort();
    expect((await running).code).toBe(143);
    const stubborn = new AbortController();
    const started = Date.now();
    const ignoring = exec('sh', ['-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done'], {
      signal: stubborn.signal,
      onLine: () => stubborn.abort(),
    });
    expect((await ignoring).code).toBe(137);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
  }, 15_000);

  it('mustSucceed: the result of exit 0, else TOOL_MISSING or TOOL_FAILED with the last three lines', async () => {
    const run = mustSucceed();
    expect((await run('sh', ['-c', 'echo ok'])).stdout).toBe('ok\n');
    await expect(run('drydock-no-such-tool', ['x'])).rejects.toMatchObject({
      code: 'TOOL_MISSING',
      message: 'drydock-no-such-tool is not installed (needed for this step)',
    });
    await expect(run('sh', ['-c', 'for i in 1 2 3 4; do echo line$i; done; exit 2'])).rejects.toMatchObject({
      code: 'TOOL_FAILED',
      message: 'sh -c failed (exit 2): line2 | line3 | line4',
    });
    await expect(run('sleep', ['30'], { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'TOOL_FAILED',
      message: 'sleep did not finish within 100 ms',
    });
    // a program that itself exits 127 (sh: command not found) failed; it is not "not installed"
    const own = await exec('sh', ['-c', 'exit 127']);
    expect(notInstalled('sh', own)).toBe(false);
    await expect(run('sh', ['-c', 'exit 127'])).rejects.toMatchObject({ code: 'TOOL_FAILED' });
  });
});

describe('/proc/<pid>/stat', () => {
  it('parses after the last ")" so a command name with spaces and parentheses cannot shift fields', () => {
    const line = '4242 (a) b (c) S 7 4242 4242 0 -1 4194560 1 0 0 0 15 25 0 0 20 0 1 0 98765 0 0';
    expect(parseProcStat(line)).toEqual({
      state: 'S',
      ppid: 7,
      utimeTicks: 15,
      stimeTicks: 25,
      startTicks: 98765,
    });
    expect(parseProcStat('garbage')).toBeNull();
  });

  it('reads a live process, and null once it is gone', async () => {
    const me = readProcStat(process.pid);
    expect(me?.ppid).toBe(process.ppid);
    expect(me?.startTicks).toBeGreaterThan(0);
    const child = spawn('sleep', ['30']);
    await once(child, 'spawn');
    const pid = child.pid!;
    expect(readProcStat(pid)?.ppid).toBe(process.pid);
    child.kill('SIGKILL');
    await once(child, 'exit');
    await expect.poll(() => readProcStat(pid)).toBeNull();
  });
});
