// Crash safety: the CLI runs as a child process and is SIGKILLed (a real kill of the real process)
// right after each state transition and at every named point inside a side effect
// (DRYDOCK_FAULT_AT; the points come from the engine's state list and fault table, and a test
// fails when one is not killed at), at moments spread over staging and apply (killed from
// outside when the process has printed a given line), and a second time during the recovery. The
// next command converges; the box must then be on the old or the new release, never between: the
// manifests folder matches the running release, its workloads are ready, history says what
// happened, and every blob a kept release needs is present and intact.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test, vi } from 'vitest';
import { publishBundle } from '../../../updater/channel/index.ts';
import { createClusterDriver, stopStandin } from '../../../updater/cluster/index.ts';
import { FAULT_POINTS, openBox, type UpdateState } from '../../../updater/engine/index.ts';
import { RESTING_STATES, STATES } from '../../../updater/engine/machine.ts';
import { releaseBlobs } from '../../../updater/release/index.ts';
import {
  ACTOR,
  demo,
  extraBundle,
  manifestsMatch,
  newBox,
  type TestBox,
  tamperedBundle,
} from '../../engine/helpers.ts';
import { serveChannel } from '../../engine/server.ts';

const REPO = join(import.meta.dirname, '../../..');
// each case boots a box and runs the real CLI two or three times: minutes on a loaded machine
vi.setConfig({ testTimeout: 180_000 });

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Kill from outside once stdout has shown `after` (a state, or a progress step) and then `lines` more lines. */
interface KillOn {
  after: { state: string } | { step: string };
  lines: number;
}

function cli(
  args: string[],
  env: Record<string, string> = {},
  killOn?: KillOn,
  killWhen?: () => boolean | Promise<boolean>,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/drydock.js'), ...args], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let seen = -1; // lines since `after` appeared; -1: not yet
    const mark = killOn
      ? 'state' in killOn.after
        ? `"event":"state","state":"${killOn.after.state}"`
        : `"event":"progress","step":"${killOn.after.step}"`
      : '';
    let partialLine = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!killOn) return;
      const lines = (partialLine + d.toString()).split('\n');
      partialLine = lines.pop() ?? '';
      for (const line of lines) {
        if (seen < 0 && line.includes(mark)) seen = 0;
        else if (seen >= 0) seen++;
        if (seen >= killOn.lines) {
          killOn = undefined;
          child.kill('SIGKILL');
          return;
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let polling = false;
    const poll = killWhen
      ? setInterval(async () => {
          if (polling) return;
          polling = true;
          if (await killWhen()) child.kill('SIGKILL');
          polling = false;
        }, 20)
      : undefined;
    child.on('exit', () => clearInterval(poll));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Status after a restart: through the CLI (which converges first), or an in-process open (also converges). */
async function status(root: string, via: 'cli' | 'open') {
  if (via === 'open') {
    const box = await openBox({ root, cluster: createClusterDriver('standin', { root }) });
    try {
      return JSON.parse(JSON.stringify(await box.status()));
    } finally {
      await box.close();
    }
  }
  const r = await cli(['update', 'status', '--root', root, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

/** The invariants after a crash and a converging restart; returns the running version. */
async function assertConverged(box: TestBox, from: string, to: string, via: 'cli' | 'open' = 'open') {
  const s = await status(box.root, via);
  expect(RESTING_STATES).toContain(s.state);
  expect([from, to]).toContain(s.running.version);
  expect(await manifestsMatch(box.root, s.running.version)).toBe(true);
  expect(s.workloads.length).toBeGreaterThan(0);
  expect(
    s.workloads.every((w: { ready: boolean }) => w.ready),
    JSON.stringify(s.workloads),
  ).toBe(true);
  for (const h of s.history) expect(h.outcome).not.toBe('in-progress');
  // every blob of every kept release is there and hashes to its name
  for (const v of [s.running.version, s.previous?.version].filter(Boolean)) {
    const doc = JSON.parse(
      await readFile(join(box.root, 'var/lib/drydock/releases', v, 'release.json'), 'utf8'),
    );
    for (const b of releaseBlobs(doc)) {
      const bytes = await readFile(join(box.root, 'var/lib/drydock/blobs/sha256', b.digest.slice(7)));
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(b.digest);
    }
  }
  return s;
}

/** A fresh box for one test, removed (and its stand-in stopped) when the test ends. */
async function freshBox(config: Record<string, unknown> = {}): Promise<TestBox> {
  const box = await newBox({ config });
  onTestFinished(() => box.cleanup());
  return box;
}

// where the update 1.0.0 → 1.1.0 is killed, and where the box must end
const UPDATE_POINTS: [string, 'old' | 'new' | 'either'][] = [
  ['downloading', 'old'],
  ['stage:blobs', 'old'],
  ['staged', 'old'],
  ['snapshotting', 'old'],
  ['applying', 'new'],
  ['apply:manifests', 'new'],
  ['verifying-health', 'new'],
  ['committed', 'new'],
];

describe('SIGKILL during 1.0.0 → 1.1.0', () => {
  test.each(UPDATE_POINTS)('at %s', async (point, expected) => {
    const d = await demo();
    const box = await freshBox();
    const run = await cli(['update', 'install', d.bundles['1.1.0'], '--root', box.root, '--json'], {
      DRYDOCK_FAULT_AT: point,
    });
    expect(run.signal, `${run.stdout}\n${run.stderr}`).toBe('SIGKILL');
    const s = await assertConverged(box, '1.0.0', '1.1.0');
    expect(s.running.version).toBe(expected === 'old' ? '1.0.0' : '1.1.0');
    if (expected === 'new') {
      expect(s.history[0]).toMatchObject({ toVersion: '1.1.0', outcome: 'committed' });
      expect(s.previous.version).toBe('1.0.0');
    } else if (point === 'staged') {
      // staged is a resting state: the update waits, and applies when asked
      expect(s.state).toBe('staged');
      const b = await box.open();
      expect((await b.apply(ACTOR)).outcome).toBe('committed');
      await b.close();
      expect((await assertConverged(box, '1.0.0', '1.1.0')).running.version).toBe('1.1.0');
    } else {
      expect(s.state).toBe('failed');
      expect(s.lastError.message).toMatch(/interrupted|stopped/);
      expect(s.history[0]).toMatchObject({ toVersion: '1.1.0', outcome: 'failed' });
      // the box takes the same update afterwards
      const b = await box.open();
      expect((await b.install(ACTOR, d.bundles['1.1.0'])).outcome).toBe('committed');
      await b.close();
    }
  });
});

const AUTO_ROLLBACK_POINTS = ['verifying-health', 'rolling-back', 'rollback:manifests', 'rolled-back'];
const EXPLICIT_ROLLBACK_POINTS = ['rolling-back', 'rollback:manifests'];

describe('SIGKILL during the automatic rollback of 1.2.0', () => {
  test.each(AUTO_ROLLBACK_POINTS)('at %s', async (point) => {
    const d = await demo();
    const box = await freshBox();
    const b = await box.open();
    await b.install(ACTOR, d.bundles['1.1.0']);
    await b.close();
    const run = await cli(['update', 'install', d.bundles['1.2.0'], '--root', box.root, '--json'], {
      DRYDOCK_FAULT_AT: point,
    });
    expect(run.signal, `${run.stdout}\n${run.stderr}`).toBe('SIGKILL');
    const s = await assertConverged(box, '1.1.0', '1.2.0');
    expect(s.running.version).toBe('1.1.0');
    expect(s.history[0]).toMatchObject({ toVersion: '1.2.0', outcome: 'rolled-back', automatic: true });
    expect(s.history[0].reason).toMatch(/health deadline/);
  });
});

describe('SIGKILL during an explicit rollback 1.1.0 → 1.0.0', () => {
  test.each(EXPLICIT_ROLLBACK_POINTS)('at %s', async (point) => {
    const d = await demo();
    const box = await freshBox();
    const b = await box.open();
    await b.install(ACTOR, d.bundles['1.1.0']);
    await b.close();
    const run = await cli(['update', 'rollback', '--root', box.root, '--json'], { DRYDOCK_FAULT_AT: point });
    expect(run.signal).toBe('SIGKILL');
    const s = await assertConverged(box, '1.1.0', '1.0.0');
    expect(s.running.version).toBe('1.0.0');
    expect(s.history[0], JSON.stringify(s.history[0])).toMatchObject({
      kind: 'rollback',
      toVersion: '1.0.0',
      outcome: 'rolled-back',
    });
  });
});

describe('SIGKILL from outside at moments spread over apply and health', () => {
  // a fixed list keeps the run reproducible: the kill lands when the CLI has printed the line,
  // while the engine goes on (images, manifests, the health wait), so where exactly it lands varies
  test.each([0, 2, 4])('%i lines after "applying"', async (lines) => {
    const d = await demo();
    const box = await freshBox();
    const run = await cli(
      ['update', 'install', d.bundles['1.1.0'], '--root', box.root, '--json'],
      {},
      { after: { state: 'applying' }, lines },
    );
    // the health wait alone outlasts these lines: the kill must have landed before the end
    expect(run.signal, `${run.stdout}\n${run.stderr}`).toBe('SIGKILL');
    // here the restart is the CLI: `update status` converges before it answers
    const s = await assertConverged(box, '1.0.0', '1.1.0', 'cli');
    expect(s.running.version).toBe('1.1.0');
    expect(s.history[0], JSON.stringify(s.history[0])).toMatchObject({
      toVersion: '1.1.0',
      outcome: 'committed',
    });
  });

  test('during the bundle read (inside the blob writes): the box stays on 1.0.0 or takes 1.1.0 whole', async () => {
    const d = await demo();
    const box = await freshBox();
    const run = await cli(
      ['update', 'install', d.bundles['1.1.0'], '--root', box.root, '--json'],
      {},
      { after: { step: 'verify' }, lines: 1 },
    );
    expect(run.signal, `${run.stdout}\n${run.stderr}`).toBe('SIGKILL');
    const s = await assertConverged(box, '1.0.0', '1.1.0', 'cli');
    // the box takes the same update afterwards (or already has it)
    if (s.running.version === '1.0.0') {
      const b = await box.open();
      expect((await b.install(ACTOR, d.bundles['1.1.0'])).outcome).toBe('committed');
      await b.close();
    }
    expect((await assertConverged(box, '1.0.0', '1.1.0')).running.version).toBe('1.1.0');
  });
});

describe('SIGKILL during a channel download', () => {
  test('the next open resumes it with a Range request, then the update applies', async () => {
    const d = await demo();
    const repoDir = await mkdtemp(join(tmpdir(), 'drydock-channel-'));
    onTestFinished(() => rm(repoDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
    for (const v of ['1.0.0', '1.1.0'] as const)
      await publishBundle({ bundlePath: d.bundles[v], repoDir, keysDir: d.keysDir });
    const server = await serveChannel(repoDir);
    onTestFinished(() => server.close());
    const box = await freshBox({ channelUrl: server.url });
    const b = await box.open();
    await b.check(ACTOR);
    await b.close();
    server.breakAfter = { bytes: 1000, mode: 'stall' };
    // killed while the server holds a blob response half sent, once the process has written those
    // 1000 bytes to its partial file (the point it must reach; bytes still in a buffer would be
    // lost with it, and the next download would start over without a Range request)
    const partialDir = join(box.root, 'var/lib/drydock/blobs/partial');
    const run = await cli(
      ['update', 'download', '--release', '1.1.0', '--root', box.root, '--json'],
      {},
      undefined,
      async () => {
        if (!server.paused) return false;
        for (const f of await readdir(partialDir).catch(() => [] as string[]))
          if ((await stat(join(partialDir, f)).catch(() => null))?.size === 1000) return true;
        return false;
      },
    );
    expect(run.signal, run.stderr).toBe('SIGKILL');
    const partial = await readdir(join(box.root, 'var/lib/drydock/blobs/partial'));
    expect(partial).toHaveLength(1);
    const seen = server.requests.length;
    const b2 = await box.open(); // converges: the download resumes
    const s = await b2.status();
    expect(s.state).toBe('staged');
    expect(s.target?.version).toBe('1.1.0');
    expect(server.requests.slice(seen).find((r) => r.path.endsWith(partial[0]!))?.range).toBe('bytes=1000-');
    expect((await b2.apply(ACTOR)).outcome).toBe('committed');
    await b2.close();
    await assertConverged(box, '1.0.0', '1.1.0');
  });
});

type Point = UpdateState | (typeof FAULT_POINTS)[number];

interface KillCase {
  /** prepares the box; returns the CLI command to kill and the versions before and after */
  setup: (box: TestBox) => Promise<{ args: string[]; from: string; to: string }>;
  /** where the box ends: on the release it ran, or on the one the command was about */
  ends: 'from' | 'to';
  /** killed a second time at this point, during the recovery (the converge of the next command) */
  again?: Point;
}

const update110: KillCase['setup'] = async (box) => ({
  args: ['update', 'install', (await demo()).bundles['1.1.0'], '--root', box.root, '--json'],
  from: '1.0.0',
  to: '1.1.0',
});
const k3sUpdate: KillCase['setup'] = async (box) => ({
  args: [
    'update',
    'install',
    await extraBundle(box.dir, '1.3.0', { k3s: 'v1.31.4+k3s1' }),
    '--root',
    box.root,
    '--json',
  ],
  from: '1.0.0',
  to: '1.3.0',
});
/** 1.1.0 runs; 1.2.1 (never healthy, changes data) is installed and rolls back, its snapshot restored */
const dataRollback: KillCase['setup'] = async (box) => {
  const bundle = await extraBundle(box.dir, '1.2.1', { base: '1.2.0', changesData: true });
  const b = await box.open();
  await b.install(ACTOR, (await demo()).bundles['1.1.0']);
  await b.close();
  return { args: ['update', 'install', bundle, '--root', box.root, '--json'], from: '1.1.0', to: '1.1.0' };
};
const autoRollback: KillCase['setup'] = async (box) => {
  const b = await box.open();
  await b.install(ACTOR, (await demo()).bundles['1.1.0']);
  await b.close();
  return {
    args: ['update', 'install', (await demo()).bundles['1.2.0'], '--root', box.root, '--json'],
    from: '1.1.0',
    to: '1.1.0',
  };
};
/** a resting box checks the channel and finds 1.1.0: available */
const check: KillCase['setup'] = async (box) => ({
  args: ['update', 'check', '--root', box.root, '--json'],
  from: '1.0.0',
  to: '1.0.0',
});
/** an idle box (a staged 1.1.0 was cancelled) refuses a bundle with a flipped blob byte: back to idle */
const refusedWhileIdle: KillCase['setup'] = async (box) => {
  const d = await demo();
  const b = await box.open();
  await b.stage(ACTOR, d.bundles['1.1.0']);
  await b.cancel(ACTOR);
  await b.close();
  const bad = await tamperedBundle(d.bundles['1.1.0'], join(box.dir, 'tampered.drydock'), (e) =>
    e.name.startsWith('blobs/'),
  );
  return { args: ['update', 'install', bad, '--root', box.root, '--json'], from: '1.0.0', to: '1.0.0' };
};

/** Every point the lists above do not kill at, with the command that reaches it. */
const MORE_KILLS: Partial<Record<Point, KillCase>> = {
  'stage:reading': { setup: update110, ends: 'from' },
  'stage:files-partial': { setup: update110, ends: 'from' },
  'stage:files': { setup: update110, ends: 'from' },
  'snapshot:data': { setup: update110, ends: 'from' },
  'snapshot:taken': { setup: update110, ends: 'from' },
  'apply:k3s': { setup: k3sUpdate, ends: 'to' },
  'apply:images': { setup: update110, ends: 'to' },
  'apply:pre-hooks': { setup: update110, ends: 'to' },
  'apply:post-hooks': { setup: update110, ends: 'to' },
  'commit:prune': { setup: update110, ends: 'to' },
  'rollback:images': { setup: dataRollback, ends: 'to' },
  'rollback:restore': { setup: dataRollback, ends: 'to' },
  available: { setup: check, ends: 'from' },
  idle: { setup: refusedWhileIdle, ends: 'from' },
  // the converge that records an interrupted staging as failed is itself killed
  failed: { setup: update110, ends: 'from', again: 'failed' },
};

/** A kill and then a second one during the recovery, at points the recovery runs through. */
const SECOND_KILLS: [Point, KillCase][] = [
  ['applying', { setup: update110, ends: 'to', again: 'apply:manifests' }],
  ['applying', { setup: update110, ends: 'to', again: 'verifying-health' }],
  ['rolling-back', { setup: autoRollback, ends: 'to', again: 'rollback:manifests' }],
];

const KILLED_ABOVE = new Set<string>([
  ...UPDATE_POINTS.map(([p]) => p),
  ...AUTO_ROLLBACK_POINTS,
  ...EXPLICIT_ROLLBACK_POINTS,
]);

async function killAt(point: Point, c: KillCase) {
  const box = await freshBox();
  const { args, from, to } = await c.setup(box);
  if (point === 'available') {
    // the channel the check asks: 1.1.0 published
    const d = await demo();
    const repoDir = await mkdtemp(join(tmpdir(), 'drydock-channel-'));
    onTestFinished(() => rm(repoDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
    for (const v of ['1.0.0', '1.1.0'] as const)
      await publishBundle({ bundlePath: d.bundles[v], repoDir, keysDir: d.keysDir });
    const server = await serveChannel(repoDir);
    onTestFinished(() => server.close());
    const b = await box.open();
    await b.putSettings(ACTOR, { channelUrl: server.url });
    await b.close();
  }
  const first = point === 'failed' ? 'downloading' : point;
  const run = await cli(args, { DRYDOCK_FAULT_AT: first });
  expect(run.signal, `not killed at ${first}: ${run.stdout}\n${run.stderr}`).toBe('SIGKILL');
  if (c.again) {
    const again = await cli(['update', 'status', '--root', box.root, '--json'], {
      DRYDOCK_FAULT_AT: c.again,
    });
    expect(again.signal, `the recovery was not killed at ${c.again}: ${again.stdout}\n${again.stderr}`).toBe(
      'SIGKILL',
    );
  }
  const s = await assertConverged(box, from, to, 'cli');
  expect(s.running.version).toBe(c.ends === 'to' ? to : from);
  return s;
}

describe('SIGKILL at every state and fault point the lists above leave out', () => {
  test('every state of machine.ts and every point of faults.ts is killed at', () => {
    const missing = [...STATES, ...FAULT_POINTS].filter((p) => !KILLED_ABOVE.has(p) && !(p in MORE_KILLS));
    expect(missing).toEqual([]);
  });

  test.each(Object.keys(MORE_KILLS) as Point[])('at %s', async (point) => {
    const s = await killAt(point, MORE_KILLS[point]!);
    if (point === 'available') expect(s.state).toBe('available');
    if (point === 'idle') expect(s.state).toBe('idle');
    if (point === 'failed' || point.startsWith('stage:') || point.startsWith('snapshot:')) {
      expect(s.state).toBe('failed');
      expect(s.lastError.message).toMatch(/interrupted|stopped/);
    }
    if (point.startsWith('apply:') || point === 'commit:prune')
      expect(s.history[0]).toMatchObject({ outcome: 'committed' });
    if (point.startsWith('rollback:'))
      expect(s.history[0]).toMatchObject({ toVersion: '1.2.1', outcome: 'rolled-back', automatic: true });
  });
});

describe('a second SIGKILL during the recovery', () => {
  test.each(SECOND_KILLS.map(([p, c]) => [p, c.again!, c] as const))(
    'at %s, then at %s while converging',
    async (point, _then, c) => {
      const s = await killAt(point, c);
      expect(s.history[0].outcome).toBe(c.setup === autoRollback ? 'rolled-back' : 'committed');
    },
  );
});

describe('the CLI end to end', () => {
  test('box init (password hand-off), update install exit codes, status --json', async () => {
    const d = await demo();
    const dir = await mkdtemp(join(tmpdir(), 'drydock-cli-'));
    const root = join(dir, 'root');
    onTestFinished(async () => {
      await stopStandin(root).catch(() => {});
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    });
    const pw = join(dir, 'pw');
    await writeFile(pw, 'correct horse battery staple\n');
    const init = await cli([
      'box',
      'init',
      '--root',
      root,
      '--trust',
      d.rootPath,
      '--release',
      d.bundles['1.0.0'],
      '--cluster',
      'standin',
      '--admin-password-file',
      pw,
    ]);
    expect(init.code, init.stderr).toBe(0);
    const secret = join(root, 'var/lib/drydock/secrets/initial-admin.json');
    expect(JSON.parse(await readFile(secret, 'utf8'))).toEqual({
      password: 'correct horse battery staple',
      source: 'file',
      // a password a deployer supplied is replaced at the first sign-in
      mustChange: true,
    });
    expect((await stat(secret)).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'var/lib/drydock/secrets'))).mode & 0o777).toBe(0o700);
    // a second init is refused
    const again = await cli([
      'box',
      'init',
      '--root',
      root,
      '--trust',
      d.rootPath,
      '--release',
      d.bundles['1.0.0'],
      '--cluster',
      'standin',
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/BOX_ALREADY_INITIALISED/);
    // a downgrade attempt: exit 1; 1.1.0: exit 0; 1.2.0 rolls back: exit 3
    expect((await cli(['update', 'install', d.bundles['1.1.0'], '--root', root])).code).toBe(0);
    const down = await cli(['update', 'install', d.bundles['1.0.0'], '--root', root]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/DOWNGRADE_REFUSED/);
    const bad = await cli(['update', 'install', d.bundles['1.2.0'], '--root', root]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/UPDATE_ROLLED_BACK: rolled back to 1\.1\.0: health deadline/);
    const s = await status(root, 'cli');
    expect(s).toMatchObject({ running: { version: '1.1.0' }, state: 'rolled-back' });
    expect(
      s.history.map((h: { toVersion: string; outcome: string }) => `${h.toVersion} ${h.outcome}`),
    ).toEqual(['1.2.0 rolled-back', '1.1.0 committed', '1.0.0 committed']);
  });
});
