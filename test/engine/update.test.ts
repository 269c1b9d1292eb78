// The engine against the stand-in cluster (updater/cluster/standin) with the real demo bundles:
// commit, automatic rollback (1.2.0's container really exits), explicit rollback, delta bundles,
// retention.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { releaseBlobs } from '../../updater/release/index.ts';
import { ACTOR, demo, extraBundle, manifestsMatch, newBox, type TestBox } from './helpers.ts';

let box: TestBox | undefined;
afterEach(async () => {
  await box?.cleanup();
  box = undefined;
});

describe('updates on the stand-in', () => {
  test('box init installs 1.0.0; 1.0.0 → 1.1.0 commits, manifests follow, history and events say so', async () => {
    const d = await demo();
    box = await newBox();
    expect(await manifestsMatch(box.root, '1.0.0')).toBe(true);
    const b = await box.open();
    const states: string[] = [];
    b.subscribe((e) => e.type === 'state' && states.push(e.state));
    const entry = await b.install(ACTOR, d.bundles['1.1.0']);
    expect(entry).toMatchObject({
      fromVersion: '1.0.0',
      toVersion: '1.1.0',
      kind: 'update',
      outcome: 'committed',
      automatic: false,
    });
    expect(states).toEqual([
      'downloading',
      'staged',
      'snapshotting',
      'applying',
      'verifying-health',
      'committed',
    ]);
    const s = await b.status();
    expect(s.running?.version).toBe('1.1.0');
    expect(s.previous?.version).toBe('1.0.0');
    expect(s.state).toBe('committed');
    expect(s.workloads.every((w) => w.ready)).toBe(true);
    expect(await manifestsMatch(box.root, '1.1.0')).toBe(true);
    expect(Object.keys(entry.steps)).toEqual(expect.arrayContaining(['snapshot', 'apply', 'health']));
    // the snapshot taken before 1.1.0 is kept for an explicit rollback
    expect((await readdir(join(box.root, 'var/lib/drydock/snapshots'))).length).toBe(1);
    await b.close();
  });

  test('1.2.0 never becomes ready: automatic rollback to 1.1.0 with the reason in plain words', async () => {
    const d = await demo();
    box = await newBox();
    const b = await box.open();
    await b.install(ACTOR, d.bundles['1.1.0']);
    const entry = await b.install(ACTOR, d.bundles['1.2.0']);
    expect(entry.outcome).toBe('rolled-back');
    expect(entry.automatic).toBe(true);
    expect(entry.reason).toMatch(/health deadline of 5 s passed/);
    expect(entry.reason).toMatch(/demo\/web/);
    const s = await b.status();
    expect(s.state).toBe('rolled-back');
    expect(s.running?.version).toBe('1.1.0');
    expect(s.previous?.version).toBe('1.0.0');
    expect(s.lastError?.message).toMatch(/rolled back to 1\.1\.0/);
    expect(s.workloads.every((w) => w.ready)).toBe(true);
    expect(await manifestsMatch(box.root, '1.1.0')).toBe(true);
    // 1.2.0 is gone again: no release folder, none of its own blobs
    expect(await readdir(join(box.root, 'var/lib/drydock/releases'))).toEqual(['1.0.0', '1.1.0']);
    const r12 = await b.releaseDocument('1.2.0');
    expect(r12).toBeNull();
    const needed = new Set<string>();
    for (const v of ['1.0.0', '1.1.0'])
      for (const x of releaseBlobs((await b.releaseDocument(v))!)) needed.add(x.digest.slice(7));
    expect((await readdir(join(box.root, 'var/lib/drydock/blobs/sha256'))).sort()).toEqual(
      [...needed].sort(),
    );
    await b.close();
  });

  test('explicit rollback goes back to the retained previous release, and only there', async () => {
    const d = await demo();
    box = await newBox();
    const b = await box.open();
    await expect(b.rollback(ACTOR)).rejects.toMatchObject({ code: 'NO_PREVIOUS_RELEASE' });
    await b.install(ACTOR, d.bundles['1.1.0']);
    const entry = await b.rollback(ACTOR);
    expect(entry).toMatchObject({
      kind: 'rollback',
      fromVersion: '1.1.0',
      toVersion: '1.0.0',
      outcome: 'rolled-back',
      automatic: false,
    });
    const s = await b.status();
    expect(s.running?.version).toBe('1.0.0');
    expect(s.previous?.version).toBe('1.1.0');
    expect(await manifestsMatch(box.root, '1.0.0')).toBe(true);
    expect(s.workloads.every((w) => w.ready)).toBe(true);
    await b.close();
  });

  test('delta bundle: refused without its base blobs, installed with them', async () => {
    const d = await demo();
    // a box without 1.0.0's blobs: a fresh root cannot take the delta
    box = await newBox({ init: false });
    const { initBox } = await import('../../updater/engine/index.ts');
    await expect(
      initBox({ root: box.root, trustPath: d.rootPath, bundlePath: d.deltas['1.1.0'], cluster: 'standin' }),
    ).rejects.toMatchObject({ code: 'BLOB_MISSING' });
    expect(await stat(join(box.root, 'etc/drydock/config.yaml')).catch(() => null)).toBeNull();
    await box.cleanup();
    // a box running 1.0.0 has them
    box = await newBox();
    const b = await box.open();
    const entry = await b.install(ACTOR, d.deltas['1.1.0']);
    expect(entry.outcome).toBe('committed');
    expect((await b.status()).running?.version).toBe('1.1.0');
    await b.close();
  });

  test('retention keeps running + previous, prunes older releases, their snapshots and unneeded blobs', async () => {
    const d = await demo();
    box = await newBox();
    const b13 = await extraBundle(box.dir, '1.3.0');
    const b = await box.open();
    await b.install(ACTOR, d.bundles['1.1.0']);
    await b.install(ACTOR, b13);
    const s = await b.status();
    expect(s.running?.version).toBe('1.3.0');
    expect(s.previous?.version).toBe('1.1.0');
    expect(await readdir(join(box.root, 'var/lib/drydock/releases'))).toEqual(['1.1.0', '1.3.0']);
    // every blob of a kept release is there; no other blob is
    const docs = await Promise.all(['1.1.0', '1.3.0'].map((v) => b.releaseDocument(v)));
    const needed = new Set(docs.flatMap((r) => releaseBlobs(r!).map((x) => x.digest.slice(7))));
    const have = new Set(await readdir(join(box.root, 'var/lib/drydock/blobs/sha256')));
    expect([...needed].filter((x) => !have.has(x))).toEqual([]);
    expect([...have].filter((x) => !needed.has(x))).toEqual([]);
    expect(await b.releaseDocument('1.0.0')).toBeNull();
    expect((await readdir(join(box.root, 'var/lib/drydock/snapshots'))).length).toBe(1);
    await b.close();
  });

  test('a release that changes data: its snapshot is restored on automatic and on explicit rollback', async () => {
    const d = await demo();
    box = await newBox();
    const inner = box.driver;
    const restored: string[] = [];
    const spy = {
      ...inner,
      kind: inner.kind,
      ping: () => inner.ping(),
      importImages: (...a: Parameters<typeof inner.importImages>) => inner.importImages(...a),
      applyManifests: (...a: Parameters<typeof inner.applyManifests>) => inner.applyManifests(...a),
      workloads: (...a: Parameters<typeof inner.workloads>) => inner.workloads(...a),
      probe: (...a: Parameters<typeof inner.probe>) => inner.probe(...a),
      runJob: (...a: Parameters<typeof inner.runJob>) => inner.runJob(...a),
      snapshot: (...a: Parameters<typeof inner.snapshot>) => inner.snapshot(...a),
      installK3s: (...a: Parameters<typeof inner.installK3s>) => inner.installK3s(...a),
      restore: async (dir: string, volumes: { namespace: string; claim: string }[]) => {
        restored.push(dir);
        return inner.restore(dir, volumes);
      },
    };
    const broken = await extraBundle(box.dir, '1.3.0', {
      base: '1.2.0',
      changesData: true,
      upgradeFrom: '>=1.0.0',
    });
    const good = await extraBundle(box.dir, '1.4.0', {
      base: '1.1.0',
      changesData: true,
      upgradeFrom: '>=1.0.0',
    });
    const b = await box.open({ cluster: spy });
    await b.install(ACTOR, d.bundles['1.1.0']);
    // 1.2.0 does not change data: no restore
    expect((await b.install(ACTOR, d.bundles['1.2.0'])).outcome).toBe('rolled-back');
    expect(restored).toEqual([]);
    // 1.3.0 changes data and fails: the snapshot taken before it is put back
    const e3 = await b.install(ACTOR, broken);
    expect(e3.outcome).toBe('rolled-back');
    expect(restored).toHaveLength(1);
    expect(restored[0]).toMatch(/snapshots\/.*-1\.3\.0\/data$/);
    // 1.4.0 changes data and commits; an explicit rollback restores the snapshot taken before it
    expect((await b.install(ACTOR, good)).outcome).toBe('committed');
    const r = await b.rollback(ACTOR);
    expect(r.outcome).toBe('rolled-back');
    expect(restored).toHaveLength(2);
    expect(restored[1]).toMatch(/snapshots\/.*-1\.4\.0\/data$/);
    expect((await b.status()).running?.version).toBe('1.1.0');
    expect(await manifestsMatch(box.root, '1.1.0')).toBe(true);
    await b.close();
  });
});
