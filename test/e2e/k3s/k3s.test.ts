// Opt-in: the k3s driver against a REAL k3s (DRYDOCK_E2E_K3S=1, run as root on a machine where k3s
// runs as the systemd unit "k3s"; docs/cluster.md says how). It installs the demo 1.0.0, updates to
// 1.1.0, sees 1.2.0 crash-loop, goes back to 1.1.0, and cleans up. Nothing here runs without the flag.

import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, type Demo } from '../../../examples/demo/index.ts';
import { BlobStore } from '../../../updater/blobstore/index.ts';
import { readBundle } from '../../../updater/bundle/index.ts';
import {
  type ClusterDriver,
  createClusterDriver,
  MANIFESTS_DIR,
  type RenderedManifest,
} from '../../../updater/cluster/index.ts';
import type { Release } from '../../../updater/release/index.ts';

const enabled = process.env.DRYDOCK_E2E_K3S === '1';
// the box root of the real k3s: / on an appliance; override for a k3s installed elsewhere
const root = process.env.DRYDOCK_E2E_K3S_ROOT ?? '/';

describe.skipIf(!enabled)('k3s driver on a real k3s (DRYDOCK_E2E_K3S=1)', () => {
  let demo: Demo;
  let store: BlobStore;
  let driver: ClusterDriver;
  const releases: Record<string, Release> = {};
  const work = mkdtempSync(join(tmpdir(), 'drydock-e2e-k3s-'));

  const manifests = async (r: Release): Promise<RenderedManifest[]> =>
    Promise.all(
      r.manifests.map(async (m) => ({
        name: m.name,
        content: await readFile(store.path(m.blob.digest), 'utf8'),
      })),
    );

  const waitReady = async (r: Release, seconds: number) => {
    const until = Date.now() + seconds * 1000;
    for (;;) {
      const h = await driver.workloads(r.health.workloads);
      if (h.every((x) => x.ready) || Date.now() > until) return h;
      await new Promise((res) => setTimeout(res, 1000));
    }
  };

  beforeAll(async () => {
    demo = await buildDemo();
    store = await new BlobStore(join(work, 'blobs')).open();
    for (const v of ['1.0.0', '1.1.0', '1.2.0'] as const)
      releases[v] = (await readBundle(demo.bundles[v], { trustedRoot: demo.rootPath, blobs: store })).release;
    driver = createClusterDriver('k3s', { root });
  }, 300_000);

  afterAll(async () => {
    if (!enabled) return;
    await rm(join(root, MANIFESTS_DIR, 'drydock-web.yaml'), { force: true });
    const { defaultExec } = await import('../../../updater/cluster/index.ts');
    await defaultExec(
      'k3s',
      ['kubectl', 'delete', 'namespace', 'demo', '--ignore-not-found', '--wait=true'],
      { timeoutMs: 120_000 },
    );
    await rm(work, { recursive: true, force: true });
  }, 180_000);

  it('k3s answers', async () => {
    const p = await driver.ping();
    expect(p.ok).toBe(true);
    expect(p.k3sVersion).toMatch(/^v1\.\d+\.\d+\+k3s\d+$/);
  });

  it('installs 1.0.0: images imported, manifests applied, healthy, page on NodePort 30080', async () => {
    const r = releases['1.0.0']!;
    // imported now, or by an earlier run of this suite (the record under the root says so)
    const first = await driver.importImages(r.images, store);
    expect(first.imported + first.skipped).toBe(1);
    expect(await driver.importImages(r.images, store)).toEqual({ imported: 0, skipped: 1 });
    await driver.applyManifests({ name: r.name, version: r.version }, await manifests(r), null);
    const h = await waitReady(r, r.health.deadlineSeconds);
    expect(h.every((x) => x.ready)).toBe(true);
    expect((await driver.probe(r.health.probes[0]!)).ok).toBe(true);
  }, 180_000);

  it('updates to 1.1.0', async () => {
    const r = releases['1.1.0']!;
    await driver.importImages(r.images, store);
    await driver.applyManifests(
      { name: r.name, version: r.version },
      await manifests(r),
      await manifests(releases['1.0.0']!),
    );
    const h = await waitReady(r, r.health.deadlineSeconds);
    expect(h.every((x) => x.ready)).toBe(true);
    const probe = r.health.probes[0]!;
    const until = Date.now() + 30_000;
    let p = await driver.probe(probe);
    while (!p.ok && Date.now() < until) p = await driver.probe(probe);
    expect(p.ok).toBe(true);
  }, 180_000);

  it('1.2.0 crash-loops and never becomes ready; 1.1.0 keeps serving', async () => {
    const r = releases['1.2.0']!;
    await driver.importImages(r.images, store);
    await driver.applyManifests(
      { name: r.name, version: r.version },
      await manifests(r),
      await manifests(releases['1.1.0']!),
    );
    const h = await waitReady(r, 45);
    expect(h[0]!.ready).toBe(false);
    expect(h[0]!.message).toMatch(/CrashLoopBackOff|Error \(exit 1/);
    expect((await driver.probe(releases['1.1.0']!.health.probes[0]!)).ok).toBe(true);
  }, 180_000);

  it('goes back to 1.1.0', async () => {
    const r = releases['1.1.0']!;
    await driver.applyManifests(
      { name: r.name, version: r.version },
      await manifests(r),
      await manifests(releases['1.2.0']!),
    );
    const h = await waitReady(r, 60);
    expect(h.every((x) => x.ready)).toBe(true);
  }, 180_000);

  it('snapshots the datastore online', async () => {
    const dir = join(work, 'snapshot');
    await driver.snapshot(dir, []);
    expect((await readFile(join(dir, 'datastore'), 'utf8')).trim()).toMatch(/^(sqlite|etcd)$/);
  }, 600_000);
});
