// Table tests on the in-memory FakeDriver (and a clock that jumps when the engine sleeps): every
// transition of the machine table is walked, and at every fault point and every state the engine
// is "crashed" (its database closed at that point, nothing after it runs against the records) and
// a new engine on the same cluster converges. The real SIGKILLs against the stand-in are
// test/e2e/engine/faults.test.ts; this file covers the table in seconds.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { DrydockError } from '../../core/index.ts';
import { readBundleHead } from '../../updater/bundle/index.ts';
import { defaultReadBundle } from '../../updater/engine/deps.ts';
import {
  type Box,
  type Engine,
  FAULT_POINTS,
  initBox,
  openBox,
  openDatabase,
  type UpdateState,
} from '../../updater/engine/index.ts';
import { MACHINE, STATES, transitions } from '../../updater/engine/machine.ts';
import { Records } from '../../updater/engine/records.ts';
import type { Release } from '../../updater/release/index.ts';
import { FakeDriver } from './fake-driver.ts';
import { ACTOR, demo, extraBundle, TEST_CONFIG } from './helpers.ts';

type Point = UpdateState | (typeof FAULT_POINTS)[number];

/** Edges seen ("from>to") and points reached, over the whole file. */
const walked = new Set<string>();
const reached = new Set<Point>();
const crashedAt = new Set<Point>();
let crashes = 0;

class Crash extends Error {}

interface Rig {
  root: string;
  dir: string;
  driver: FakeDriver;
  box: Box & Engine;
  /** the last state recorded (every transition passes the fault hook) */
  last: UpdateState;
  crashAt: Point[];
  readBundleError: DrydockError | null;
  noSpace: boolean;
  offers: Release[];
  open(): Promise<Box & Engine>;
  /** runs `op`, which must be crashed at `point`; then a new engine converges */
  crash(point: Point, op: (b: Box) => Promise<unknown>, thenAlso?: Point[]): Promise<void>;
}

let clockMs = Date.parse('2026-01-01T00:00:00Z');
const clock = {
  now: () => clockMs,
  sleep: async (ms: number) => {
    clockMs += ms;
  },
};

let heads: Promise<Record<string, Release>> | null = null;
function offersOf(...versions: ('1.1.0' | '1.2.0')[]): Promise<Release[]> {
  heads ??= demo().then(async (d) => {
    const out: Record<string, Release> = {};
    for (const v of ['1.1.0', '1.2.0'] as const)
      out[v] = (await readBundleHead(d.bundles[v], { trustedRoot: d.rootPath })).release;
    return out;
  });
  return heads.then((h) => versions.map((v) => h[v]!));
}

async function rig(opts: { unhealthy?: string[] } = {}): Promise<Rig> {
  const d = await demo();
  const dir = await mkdtemp(join(tmpdir(), 'drydock-walk-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  const driver = new FakeDriver();
  for (const v of opts.unhealthy ?? []) driver.unhealthy.add(v);
  const r: Rig = {
    root,
    dir,
    driver,
    box: undefined as unknown as Box & Engine,
    last: 'idle',
    crashAt: [],
    readBundleError: null,
    noSpace: false,
    offers: [],
    async open() {
      const box = await openBox({ ...parts(), converge: false });
      r.box = box;
      await box.converge();
      return box;
    },
    async crash(point, op, thenAlso = []) {
      r.crashAt = [point, ...thenAlso];
      // what the crashed call throws afterwards does not matter (its catch blocks meet a closed
      // database); that the hook crashed it at the point does
      await op(r.box).then(
        () => expect.unreachable(`the engine was not crashed at ${point}`),
        () => {},
      );
      expect(r.crashAt[0]).toBe(thenAlso[0]);
      for (let i = 0; i <= thenAlso.length; i++) await recover();
      expect(r.crashAt).toEqual([]);
    },
  };
  /** the crashed engine's lock row stays (its process lives on here): a dead holder's would be taken over */
  async function recover() {
    const db = openDatabase(root);
    db.prepare('DELETE FROM update_lock').run();
    db.close();
    const before = crashes;
    const err = await r.open().then(
      () => null,
      (e: unknown) => e,
    );
    // an open may only fail by being crashed itself (a second crash during recovery)
    if (err && crashes === before) throw err;
  }
  const hook = (point: string) => {
    const pt = point as Point;
    reached.add(pt);
    if ((STATES as readonly string[]).includes(point)) {
      walked.add(`${r.last}>${point}`);
      r.last = point as UpdateState;
    }
    if (r.crashAt[0] === pt) {
      r.crashAt.shift();
      crashedAt.add(pt);
      crashes++;
      // a crash: the records are gone for whatever runs after this point
      if (r.box?.internals.db.open) r.box.internals.db.close();
      throw new Crash(`crashed at ${point}`);
    }
  };
  const parts = () => ({
    root,
    cluster: driver,
    clock,
    fault: hook,
    statfs: async () =>
      r.noSpace
        ? { bavail: 0, bsize: 4096, blocks: 1 << 20 }
        : { bavail: 1 << 30, bsize: 4096, blocks: 1 << 31 },
    readBundle: ((path, o) =>
      r.readBundleError
        ? Promise.reject(r.readBundleError)
        : defaultReadBundle(path, o)) as typeof defaultReadBundle,
    channel: async () => ({
      refresh: async () => r.offers,
      fetchBlobs: async () => {
        throw new DrydockError('NETWORK_FAILED', 'the fake channel serves no blobs');
      },
    }),
  });
  const init = await initBox({
    ...parts(),
    trustPath: d.rootPath,
    bundlePath: d.bundles['1.0.0'],
    cluster: 'standin',
    driverFactory: () => driver,
    channelUrl: 'https://channel.invalid/',
    config: TEST_CONFIG as never,
  }).then(
    (e) => e,
    (e: unknown) => e,
  );
  if (init instanceof Error && !(init instanceof DrydockError && opts.unhealthy)) throw init;
  await r.open();
  return r;
}

/** Settled: a resting state, the cluster runs what the records say, no history left in progress. */
async function settled(r: Rig, allowed: string[]): Promise<string> {
  const s = await r.box.status();
  expect(MACHINE[s.state].active, s.state).toBe(false);
  expect(allowed).toContain(s.running?.version);
  expect(r.driver.running?.version).toBe(s.running?.version);
  for (const h of s.history) expect(h.outcome).not.toBe('in-progress');
  const dirs = await readdir(join(r.root, 'var/lib/drydock/releases'));
  expect(dirs.filter((x) => x.includes('.tmp-'))).toEqual([]);
  expect(await r.box.internals.store.list()).toEqual(expect.any(Array));
  return s.running!.version;
}

/** A box running 1.1.0 with 1.0.0 as previous. */
async function at110(): Promise<Rig> {
  const d = await demo();
  const r = await rig({ unhealthy: ['1.2.0'] });
  expect((await r.box.install(ACTOR, d.bundles['1.1.0'])).outcome).toBe('committed');
  return r;
}

/** Puts a box (1.1.0 running, 1.0.0 previous) into a resting state. */
async function into(state: UpdateState): Promise<Rig> {
  const d = await demo();
  const r = await at110();
  r.offers = await offersOf('1.2.0');
  switch (state) {
    case 'committed':
      break;
    case 'staged':
      await r.box.stage(ACTOR, d.bundles['1.2.0']);
      break;
    case 'idle':
      await r.box.stage(ACTOR, d.bundles['1.2.0']);
      await r.box.cancel(ACTOR);
      break;
    case 'available':
      await r.box.check(ACTOR);
      break;
    case 'rolled-back':
      expect((await r.box.install(ACTOR, d.bundles['1.2.0'])).outcome).toBe('rolled-back');
      break;
    case 'failed':
      r.readBundleError = new DrydockError('TOOL_FAILED', 'the reader broke (test)');
      await expect(r.box.stage(ACTOR, d.bundles['1.2.0'])).rejects.toMatchObject({ code: 'TOOL_FAILED' });
      r.readBundleError = null;
      break;
    default:
      throw new Error(`into(${state}): not a resting state`);
  }
  expect((await r.box.status()).state).toBe(state);
  // the channel's offers, as a check would have recorded them, without moving the state
  new Records(r.box.internals.db).setAvailable(
    r.offers.map((o) => ({ version: o.version, document: JSON.stringify(o) })),
  );
  return r;
}

// ------------------------------------------------------------------ every edge out of a resting state

/** What the admin does to take each edge out of a resting state, and where the box ends. */
const OPS: Partial<Record<UpdateState, { run: (r: Rig) => Promise<unknown>; ends: UpdateState }>> = {
  downloading: { run: async (r) => r.box.stage(ACTOR, (await demo()).bundles['1.2.0']), ends: 'staged' },
  'rolling-back': { run: (r) => r.box.rollback(ACTOR), ends: 'rolled-back' },
  available: { run: (r) => r.box.check(ACTOR), ends: 'available' },
  idle: { run: (r) => r.box.cancel(ACTOR), ends: 'idle' },
  failed: {
    run: async (r) => {
      r.noSpace = true;
      await expect(r.box.download(ACTOR, '1.2.0')).rejects.toMatchObject({ code: 'DISK_FULL' });
      r.noSpace = false;
    },
    ends: 'failed',
  },
  // staged → snapshotting: apply (1.2.0 never becomes healthy here, so it ends rolled back)
  snapshotting: { run: (r) => r.box.apply(ACTOR), ends: 'rolled-back' },
};

const restingEdges = transitions().filter((t) => !MACHINE[t.from].active && t.to !== 'applying');

describe('every edge out of a resting state', () => {
  test.each(restingEdges.map((t) => [t.from, t.to] as const))('%s → %s', async (from, to) => {
    const op = OPS[to];
    expect(op, `no operation in this test takes ${from} → ${to}`).toBeDefined();
    const r = await into(from);
    await op!.run(r);
    expect(walked).toContain(`${from}>${to}`);
    expect((await r.box.status()).state).toBe(op!.ends);
    await settled(r, ['1.0.0', '1.1.0']);
  });

  test('staged → applying: the first install (on a box whose first install failed)', async () => {
    const d = await demo();
    const r = await rig({ unhealthy: ['1.0.0'] });
    r.driver.unhealthy.clear();
    await r.box.stage(ACTOR, d.bundles['1.0.0']);
    expect((await r.box.status()).state).toBe('staged');
    expect((await r.box.apply(ACTOR)).outcome).toBe('committed');
    expect(walked).toContain('staged>applying');
    expect(await settled(r, ['1.0.0'])).toBe('1.0.0');
  });
});

// ------------------------------------------------------------------ edges out of active states

describe('edges out of active states', () => {
  test('refused input puts back the state it started from (idle, available, staged, committed, rolled-back, failed)', async () => {
    const d = await demo();
    for (const from of ['idle', 'available', 'staged', 'committed', 'rolled-back', 'failed'] as const) {
      const r = await into(from);
      r.readBundleError = new DrydockError('BLOB_DIGEST_MISMATCH', 'a flipped byte (test)');
      await expect(r.box.stage(ACTOR, d.bundles['1.2.0'])).rejects.toMatchObject({
        code: 'BLOB_DIGEST_MISMATCH',
      });
      expect((await r.box.status()).state, from).toBe(from);
      expect(walked).toContain(`downloading>${from}`);
    }
  });

  test('a failing snapshot: snapshotting → failed, nothing changed', async () => {
    const d = await demo();
    const r = await rig();
    r.driver.failing.set('snapshot', { message: 'no room (test)' });
    await expect(r.box.install(ACTOR, d.bundles['1.1.0'])).rejects.toThrow(/snapshot before 1\.1\.0 failed/);
    expect(walked).toContain('snapshotting>failed');
    expect(await settled(r, ['1.0.0'])).toBe('1.0.0');
  });

  test('a failing apply: applying → rolling-back with its own code, APPLY_FAILED (not HEALTH_TIMEOUT)', async () => {
    const d = await demo();
    const r = await rig();
    r.driver.failing.set('applyManifests', { message: 'the API refused a manifest (test)' });
    const entry = await r.box.install(ACTOR, d.bundles['1.1.0']);
    expect(entry).toMatchObject({ outcome: 'rolled-back', automatic: true });
    expect(entry.reason).toMatch(/applying 1\.1\.0 failed: fake applyManifests failed/);
    expect((await r.box.status()).lastError?.code).toBe('APPLY_FAILED');
    expect(walked).toContain('applying>rolling-back');
    expect(await settled(r, ['1.0.0'])).toBe('1.0.0');
  });

  test('a release that never becomes healthy: verifying-health → rolling-back with HEALTH_TIMEOUT', async () => {
    const d = await demo();
    const r = await at110();
    const entry = await r.box.install(ACTOR, d.bundles['1.2.0']);
    expect(entry.reason).toMatch(/health deadline of 5 s passed/);
    expect((await r.box.status()).lastError?.code).toBe('HEALTH_TIMEOUT');
    expect(walked).toContain('verifying-health>rolling-back');
    expect(walked).toContain('rolling-back>rolled-back');
  });

  test('a first install that never becomes healthy: rolling-back → failed, its objects removed', async () => {
    const r = await rig({ unhealthy: ['1.0.0'] });
    expect(walked).toContain('rolling-back>failed');
    const s = await r.box.status();
    expect(s.state).toBe('failed');
    expect(s.running).toBeNull();
    expect(r.driver.running).toBeNull();
  });

  test('an explicit rollback to a release that is no longer healthy ends failed (it runs anyway)', async () => {
    const r = await at110();
    r.driver.unhealthy.add('1.0.0');
    expect((await r.box.rollback(ACTOR)).outcome).toBe('failed');
    expect((await r.box.status()).lastError?.code).toBe('UPDATE_ROLLED_BACK');
    expect(r.driver.running?.version).toBe('1.0.0');
  });

  test('a transition the table lacks is refused by the records, not written', async () => {
    const r = await rig();
    const rec = new Records(r.box.internals.db);
    expect(() => rec.transition({ state: 'verifying-health' })).toThrow(
      /may not go from committed to verifying-health/,
    );
    expect((await r.box.status()).state).toBe('committed');
  });
});

// ------------------------------------------------------------------ a crash at every point

type Scenario = {
  /** builds the box and returns the operation to crash */
  setup: () => Promise<{ r: Rig; op: (b: Box) => Promise<unknown>; from: string; to: string }>;
  /** where the box must end: the old release, the new one */
  ends: 'from' | 'to';
};

const update110: Scenario['setup'] = async () => {
  const d = await demo();
  const r = await rig();
  return { r, op: (b) => b.install(ACTOR, d.bundles['1.1.0']), from: '1.0.0', to: '1.1.0' };
};
const k3sUpdate: Scenario['setup'] = async () => {
  const r = await rig();
  const bundle = await extraBundle(r.dir, '1.3.0', { k3s: 'v1.31.4+k3s1' });
  return { r, op: (b) => b.install(ACTOR, bundle), from: '1.0.0', to: '1.3.0' };
};
const autoRollback: Scenario['setup'] = async () => {
  const r = await rig({ unhealthy: ['1.2.1'] });
  // a release that changes data: its rollback restores the snapshot too
  const bundle = await extraBundle(r.dir, '1.2.1', { base: '1.2.0', changesData: true });
  r.driver.volumeData = 'before 1.2.1';
  r.driver.dataWrites = true;
  return { r, op: (b) => b.install(ACTOR, bundle), from: '1.0.0', to: '1.0.0' };
};
const explicitRollback: Scenario['setup'] = async () => {
  const r = await rig();
  const bundle = await extraBundle(r.dir, '1.1.5', { changesData: true });
  expect((await r.box.install(ACTOR, bundle)).outcome).toBe('committed');
  return { r, op: (b) => b.rollback(ACTOR), from: '1.1.5', to: '1.0.0' };
};
const checkOffers: Scenario['setup'] = async () => {
  const r = await rig();
  r.offers = await offersOf('1.1.0');
  return { r, op: (b) => b.check(ACTOR), from: '1.0.0', to: '1.0.0' };
};
const cancelStaged: Scenario['setup'] = async () => {
  const d = await demo();
  const r = await rig();
  await r.box.stage(ACTOR, d.bundles['1.1.0']);
  return { r, op: (b) => b.cancel(ACTOR), from: '1.0.0', to: '1.0.0' };
};

/** Where each point is reached and where the box must end after a crash there. */
const CRASHES: Record<Point, Scenario> = {
  downloading: { setup: update110, ends: 'from' },
  'stage:reading': { setup: update110, ends: 'from' },
  'stage:blobs': { setup: update110, ends: 'from' },
  'stage:files-partial': { setup: update110, ends: 'from' },
  'stage:files': { setup: update110, ends: 'from' },
  staged: { setup: update110, ends: 'from' },
  snapshotting: { setup: update110, ends: 'from' },
  'snapshot:data': { setup: update110, ends: 'from' },
  'snapshot:taken': { setup: update110, ends: 'from' },
  applying: { setup: update110, ends: 'to' },
  'apply:k3s': { setup: k3sUpdate, ends: 'to' },
  'apply:images': { setup: update110, ends: 'to' },
  'apply:pre-hooks': { setup: update110, ends: 'to' },
  'apply:manifests': { setup: update110, ends: 'to' },
  'apply:post-hooks': { setup: update110, ends: 'to' },
  'verifying-health': { setup: update110, ends: 'to' },
  committed: { setup: update110, ends: 'to' },
  'commit:prune': { setup: update110, ends: 'to' },
  'rolling-back': { setup: autoRollback, ends: 'to' },
  'rollback:images': { setup: autoRollback, ends: 'to' },
  'rollback:manifests': { setup: explicitRollback, ends: 'to' },
  'rollback:restore': { setup: autoRollback, ends: 'to' },
  'rolled-back': { setup: explicitRollback, ends: 'to' },
  available: { setup: checkOffers, ends: 'from' },
  idle: { setup: cancelStaged, ends: 'from' },
  // a staging interrupted, then the converge that records it as failed is interrupted too
  failed: { setup: update110, ends: 'from' },
};

describe('a crash at every state and fault point, then converge', () => {
  test('the scenario table names every state and every fault point', () => {
    expect(Object.keys(CRASHES).sort()).toEqual([...STATES, ...FAULT_POINTS].sort());
  });

  test.each(Object.keys(CRASHES) as Point[])('at %s', async (point) => {
    const sc = CRASHES[point];
    const { r, op, from, to } = await sc.setup();
    if (point === 'failed') await r.crash('downloading', op, ['failed']);
    else await r.crash(point, op);
    const want = sc.ends === 'to' ? to : from;
    expect(await settled(r, [from, to])).toBe(want);
    // the data the failed release wrote is gone again: the snapshot was restored (and redone)
    if (sc.setup === autoRollback) expect(r.driver.volumeData).toBe('before 1.2.1');
  });

  test('a second crash during recovery: killed at applying, the converge killed at apply:manifests', async () => {
    const { r, op } = await update110();
    await r.crash('applying', op, ['apply:manifests']);
    expect(await settled(r, ['1.0.0', '1.1.0'])).toBe('1.1.0');
    expect((await r.box.history())[0]).toMatchObject({ toVersion: '1.1.0', outcome: 'committed' });
  });

  test('a second crash during recovery: killed at rolling-back, the converge killed at rollback:manifests', async () => {
    const { r, op } = await autoRollback();
    await r.crash('rolling-back', op, ['rollback:manifests']);
    expect(await settled(r, ['1.0.0'])).toBe('1.0.0');
    expect((await r.box.history())[0]).toMatchObject({
      toVersion: '1.2.1',
      outcome: 'rolled-back',
      automatic: true,
    });
  });
});

// last in the file (vitest runs a file's tests in order): the walk is complete only when every
// edge of the table was taken and every point crashed at
test('every edge of machine.ts was walked and every state and fault point crashed at', () => {
  const missingEdges = transitions()
    .map((t) => `${t.from}>${t.to}`)
    .filter((e) => !walked.has(e));
  expect(missingEdges, 'edges of machine.ts no test walked').toEqual([]);
  expect(
    [...STATES, ...FAULT_POINTS].filter((p) => !crashedAt.has(p)),
    'points no test crashed at',
  ).toEqual([]);
  expect([...FAULT_POINTS].filter((p) => !reached.has(p))).toEqual([]);
});
