// Figures for the stand-in cluster with the demo releases (not a test: timings are printed, never asserted).
//   npx tsx examples/demo/bench-standin.ts
// Baseline in the same process tree: spawning /bin/busybox true (the floor of any container start).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore } from '../../updater/blobstore/index.ts';
import { readBundle } from '../../updater/bundle/index.ts';
import { createClusterDriver, type RenderedManifest } from '../../updater/cluster/index.ts';
import type { Release } from '../../updater/release/index.ts';
import { buildDemo } from './index.ts';

const ms = (t: number) => `${(performance.now() - t).toFixed(0)} ms`;
const demo = await buildDemo();
const work = mkdtempSync(join(tmpdir(), 'bench-standin-'));
const root = join(work, 'box');
const store = await new BlobStore(join(root, 'var/lib/drydock/blobs')).open();
const rel: Record<string, Release> = {};
for (const v of ['1.0.0', '1.1.0', '1.2.0'] as const)
  rel[v] = (await readBundle(demo.bundles[v], { trustedRoot: demo.rootPath, blobs: store })).release;
const manifests = (r: Release): RenderedManifest[] =>
  r.manifests.map((m) => ({ name: m.name, content: readFileSync(store.path(m.blob.digest), 'utf8') }));
const driver = createClusterDriver('standin', { root });

let t = performance.now();
for (let i = 0; i < 20; i++) execFileSync('/bin/busybox', ['true']);
const spawn = (performance.now() - t) / 20;
console.log(`baseline: spawn /bin/busybox true              ${spawn.toFixed(1)} ms`);

const untilState = async (r: Release, want: (ready: boolean, msg: string) => boolean) => {
  for (;;) {
    const [h] = await driver.workloads(r.health.workloads);
    if (want(h!.ready, h!.message)) return;
    await new Promise((res) => setTimeout(res, 20));
  }
};

try {
  t = performance.now();
  await driver.importImages(rel['1.0.0']!.images, store);
  console.log(`import image web:1.0.0 (umoci unpack)       ${ms(t)}`);
  t = performance.now();
  const again = await driver.importImages(rel['1.0.0']!.images, store);
  console.log(`import again (skipped: ${again.skipped})                 ${ms(t)}`);
  for (const v of ['1.1.0', '1.2.0']) await driver.importImages(rel[v]!.images, store);

  t = performance.now();
  await driver.applyManifests(rel['1.0.0']!, manifests(rel['1.0.0']!), null);
  await untilState(rel['1.0.0']!, (ready) => ready);
  console.log(`install 1.0.0: apply → ready                 ${ms(t)}`);

  t = performance.now();
  await driver.applyManifests(rel['1.1.0']!, manifests(rel['1.1.0']!), manifests(rel['1.0.0']!));
  await untilState(rel['1.1.0']!, (ready) => ready);
  const probe = await driver.probe(rel['1.1.0']!.health.probes[0]!);
  console.log(`update 1.0.0 → 1.1.0: apply → ready + probe  ${ms(t)} (${probe.message})`);

  t = performance.now();
  await driver.applyManifests(rel['1.2.0']!, manifests(rel['1.2.0']!), manifests(rel['1.1.0']!));
  await untilState(rel['1.2.0']!, (_r, m) => m.includes('CrashLoopBackOff'));
  console.log(`1.2.0: apply → CrashLoopBackOff seen         ${ms(t)}`);

  t = performance.now();
  await driver.applyManifests(rel['1.1.0']!, manifests(rel['1.1.0']!), manifests(rel['1.2.0']!));
  await untilState(rel['1.1.0']!, (ready) => ready);
  console.log(`back to 1.1.0: apply → ready                 ${ms(t)}`);

  t = performance.now();
  for (let i = 0; i < 10; i++) await driver.workloads(rel['1.1.0']!.health.workloads);
  const wl = (performance.now() - t) / 10;
  console.log(
    `workloads() call (reconcile + readiness probe) ${wl.toFixed(1)} ms = ${(wl / spawn).toFixed(1)}× baseline`,
  );
  t = performance.now();
  for (let i = 0; i < 10; i++) await driver.probe(rel['1.1.0']!.health.probes[0]!);
  const pr = (performance.now() - t) / 10;
  console.log(
    `probe() via NodePort 30080                   ${pr.toFixed(1)} ms = ${(pr / spawn).toFixed(1)}× baseline`,
  );
} finally {
  await driver.shutdown?.();
  rmSync(work, { recursive: true, force: true });
}
