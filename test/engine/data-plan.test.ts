// What a rollback does with the data (updater/engine/data-plan.ts), on the in-memory fake cluster
// whose volumes a started release writes to: the safe default restores the snapshot whenever the
// release being left has volumes, `data.compatible: true` keeps the data, and an explicit rollback
// says first what it will do and does what the admin chose.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { initBox, openBox } from '../../updater/engine/index.ts';
import { FakeDriver } from './fake-driver.ts';
import { ACTOR, demo, extraBundle, TEST_CONFIG } from './helpers.ts';

const VOLUMES = [{ namespace: 'demo', claim: 'data' }];
let clockMs = Date.parse('2026-12-02T08:00:00Z');
const clock = {
  now: () => clockMs,
  sleep: async (ms: number) => {
    clockMs += ms;
  },
};

async function rig(unhealthy: string[] = [], disk = { freeBytes: 4 * 2 ** 40 }) {
  const d = await demo();
  const dir = await mkdtemp(join(tmpdir(), 'drydock-dataplan-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  const driver = new FakeDriver();
  for (const v of unhealthy) driver.unhealthy.add(v);
  const parts = {
    root,
    cluster: driver,
    clock,
    statfs: async () => ({ bavail: Math.floor(disk.freeBytes / 4096), bsize: 4096, blocks: 1 << 31 }),
  };
  await initBox({
    ...parts,
    trustPath: d.rootPath,
    bundlePath: d.bundles['1.0.0'],
    cluster: 'standin',
    driverFactory: () => driver,
    config: TEST_CONFIG as never,
  });
  const box = await openBox(parts);
  onTestFinished(() => box.close());
  driver.volumeData = 'rows of 1.0.0';
  driver.dataWrites = true;
  return { dir, driver, box, disk };
}

describe('rollback and the data', () => {
  it('an automatic rollback restores the snapshot when the failed release has volumes (no declaration needed)', async () => {
    const r = await rig(['1.2.1']);
    const bundle = await extraBundle(r.dir, '1.2.1', { base: '1.2.0', data: { volumes: VOLUMES } });
    const e = await r.box.install(ACTOR, bundle);
    expect(e.outcome).toBe('rolled-back');
    expect(e.reason).toContain('data restored from the snapshot before the update');
    // the backend's downtime for the snapshot is in the history, beside the step times
    expect(e.steps).toMatchObject({ 'backend down': 1234 });
    expect(r.driver.calls).toContain('restore');
    // what 1.2.1 wrote is gone; 1.0.0's own start after the restore may write again
    expect(r.driver.volumeData).not.toContain('written by 1.2.1');
    expect(r.driver.volumeData.startsWith('rows of 1.0.0')).toBe(true);
  });

  it('data.compatible: true keeps the data on an automatic rollback', async () => {
    const r = await rig(['1.2.1']);
    const bundle = await extraBundle(r.dir, '1.2.1', {
      base: '1.2.0',
      data: { volumes: VOLUMES, compatible: true },
    });
    const e = await r.box.install(ACTOR, bundle);
    expect(e.outcome).toBe('rolled-back');
    expect(r.driver.calls).not.toContain('restore');
    expect(r.driver.volumeData).toContain('written by 1.2.1');
  });

  it('an explicit rollback says what it will do, does the default, or what the admin chose', async () => {
    const r = await rig();
    const bundle = await extraBundle(r.dir, '1.1.5', { data: { volumes: VOLUMES } });
    expect((await r.box.install(ACTOR, bundle)).outcome).toBe('committed');
    const plan = await r.box.rollbackPlan();
    expect(plan).toMatchObject({ from: '1.1.5', to: '1.0.0', data: { default: 'restore' } });
    expect(plan!.data.words.restore).toMatch(
      /^restore data from 2026-12-02T08:\d\d:\d\d\.\d{3}Z \(writes since then are lost\)$/,
    );
    expect(plan!.data.words.keep).toBe('keep current data');

    const kept = await r.box.rollback(ACTOR, { data: 'keep' });
    expect(kept.outcome).toBe('rolled-back');
    expect(kept.reason).toContain('data kept');
    expect(r.driver.calls).not.toContain('restore');
    expect(r.driver.volumeData).toContain('written by 1.1.5');
  });

  it('an explicit rollback with the default restores the snapshot', async () => {
    const r = await rig();
    const bundle = await extraBundle(r.dir, '1.1.5', { data: { volumes: VOLUMES } });
    expect((await r.box.install(ACTOR, bundle)).outcome).toBe('committed');
    const e = await r.box.rollback(ACTOR);
    expect(e.outcome).toBe('rolled-back');
    expect(e.reason).toContain('data restored from the snapshot before the update');
    expect(r.driver.volumeData).not.toContain('written by 1.1.5');
  });

  it('a release without volumes has nothing to give back: the plan keeps the data', async () => {
    const r = await rig();
    const d = await demo();
    expect((await r.box.install(ACTOR, d.bundles['1.1.0'])).outcome).toBe('committed');
    expect((await r.box.rollbackPlan())?.data.default).toBe('keep');
    const e = await r.box.rollback(ACTOR);
    expect(e.reason).toContain('data kept');
    expect(r.driver.calls).not.toContain('restore');
  });
});

describe('space for the snapshot is measured before anything changes', () => {
  it('volumes larger than the free disk: DISK_FULL naming the volumes, nothing copied, 1.0.0 untouched', async () => {
    const r = await rig();
    const bundle = await extraBundle(r.dir, '1.1.5', { data: { volumes: VOLUMES } });
    r.driver.volumeScale = 1e9; // ~13 GB of volume data
    r.disk.freeBytes = 2 * 2 ** 30;
    r.driver.calls.length = 0; // box init's calls
    const err = await r.box.install(ACTOR, bundle).catch((e) => e);
    expect(err.code).toBe('DISK_FULL');
    expect(err.message).toMatch(
      /^not enough free disk for the snapshot of 1 volume\(s\) before 1\.1\.5 \(12 GiB\) and its new images \([\d.]+ KiB\): 12 GiB needed/,
    );
    expect(r.driver.calls).not.toContain('snapshot');
    expect(r.driver.calls).not.toContain('applyManifests');
    expect((await r.box.status()).running?.version).toBe('1.0.0');
    // the same volumes fit on a larger disk
    r.disk.freeBytes = 64 * 2 ** 30;
    expect((await r.box.apply(ACTOR)).outcome).toBe('committed');
    expect(r.driver.calls).toContain('snapshot');
  });
});
