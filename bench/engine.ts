// Engine figures (docs/engine.md), on the stand-in cluster (updater/cluster/standin) with the real demo bundles:
//  1. engine overhead of apply + commit, demo 1.0.0 → 1.1.0: wall time minus the time spent inside
//     the cluster driver (image import, manifests, readiness), so "stand-in ready at once";
//     with sha256sum of the bundle in the same process tree as a baseline;
//  2. from the health deadline of 1.2.0 (the "rolling-back" transition) to 1.1.0 healthy again;
//  3. a start with 20 releases' blobs present: images imported by the restart and its re-apply.
//   node --import tsx bench/engine.ts            (BENCH_RUNS=5 by default)
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { buildDemo, type Demo } from '../examples/demo/index.ts';
import { buildBundle } from '../updater/bundle/index.ts';
import { type ClusterDriver, createClusterDriver, stopStandin } from '../updater/cluster/index.ts';
import { initBox, openBox } from '../updater/engine/index.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ACTOR = { user: 'bench', from: 'local' };
const CONFIG = { healthPollMs: 50, diskMarginBytes: 1 << 20, keepReleases: 20 };

/** The stand-in, with the time spent inside each call and the import counts recorded. */
function timed(inner: ClusterDriver) {
  const t = { ms: 0, imported: 0, skipped: 0 };
  const wrap =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const t0 = performance.now();
      try {
        return await f(...a);
      } finally {
        t.ms += performance.now() - t0;
      }
    };
  const driver: ClusterDriver = {
    kind: inner.kind,
    ping: wrap(() => inner.ping()),
    importImages: wrap(async (images, store, onProgress) => {
      const r = await inner.importImages(images, store, onProgress);
      t.imported += r.imported;
      t.skipped += r.skipped;
      return r;
    }),
    applyManifests: wrap((r, n, p) => inner.applyManifests(r, n, p)),
    workloads: wrap((w) => inner.workloads(w)),
    probe: wrap((p) => inner.probe(p)),
    runJob: wrap((j, s) => inner.runJob(j, s)),
    snapshot: wrap((d, v) => inner.snapshot(d, v)),
    restore: wrap((d, v) => inner.restore(d, v)),
    volumeBytes: wrap((v) => inner.volumeBytes(v)),
    installK3s: wrap((b, v) => inner.installK3s(b, v)),
  };
  return { driver, t };
}

async function freshBox(d: Demo) {
  const dir = await mkdtemp(join(tmpdir(), 'drydock-bench-engine-'));
  const root = join(dir, 'root');
  await initBox({
    root,
    trustPath: d.rootPath,
    bundlePath: d.bundles['1.0.0'],
    cluster: 'standin',
    config: CONFIG,
  });
  return {
    dir,
    root,
    cleanup: async () => {
      await stopStandin(root).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

async function overhead(d: Demo) {
  const rows: { wall: number; driver: number; stage: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    const b0 = await freshBox(d);
    const { driver, t } = timed(createClusterDriver('standin', { root: b0.root }));
    const box = await openBox({ root: b0.root, cluster: driver });
    const s0 = performance.now();
    await box.stage(ACTOR, d.bundles['1.1.0']);
    const stage = performance.now() - s0;
    t.ms = 0;
    const a0 = performance.now();
    const entry = await box.apply(ACTOR);
    const wall = performance.now() - a0;
    if (entry.outcome !== 'committed') throw new Error(`run ${i}: ${entry.outcome}: ${entry.reason}`);
    rows.push({ wall, driver: t.ms, stage });
    await box.close();
    await b0.cleanup();
  }
  const s0 = performance.now();
  for (let i = 0; i < RUNS; i++) execFileSync('sha256sum', [d.bundles['1.1.0']]);
  const sha = (performance.now() - s0) / RUNS;
  const wall = median(rows.map((r) => r.wall));
  const drv = median(rows.map((r) => r.driver));
  const eng = median(rows.map((r) => r.wall - r.driver));
  const stage = median(rows.map((r) => r.stage));
  console.log(
    `1. apply+commit 1.0.0→1.1.0 (median of ${RUNS}): wall ${fmt(wall)}, inside the stand-in ${fmt(drv)}, engine overhead ${fmt(eng)} (goal ≤ 2 s)`,
  );
  console.log(
    `   staging the 1.1.0 bundle (verify + store + release files): ${fmt(stage)}; sha256sum of the same bundle: ${fmt(sha)} (×${(stage / sha).toFixed(1)})`,
  );
}

async function rollbackTime(d: Demo) {
  const xs: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    const b0 = await freshBox(d);
    const box = await openBox({ root: b0.root });
    await box.install(ACTOR, d.bundles['1.1.0']);
    let deadlineAt = 0;
    let healthyAt = 0;
    box.subscribe((e) => {
      if (e.type === 'state' && e.state === 'rolling-back') deadlineAt = performance.now();
      if (e.type === 'state' && e.state === 'rolled-back') healthyAt = performance.now();
    });
    const entry = await box.install(ACTOR, d.bundles['1.2.0']);
    if (entry.outcome !== 'rolled-back') throw new Error(`1.2.0 ended ${entry.outcome}`);
    const s = await box.status();
    if (!s.workloads.every((w) => w.ready)) throw new Error('1.1.0 is not healthy after the rollback');
    xs.push(healthyAt - deadlineAt);
    await box.close();
    await b0.cleanup();
  }
  console.log(
    `2. health deadline of 1.2.0 → 1.1.0 healthy again (median of ${xs.length}): ${fmt(median(xs))} (goal ≤ 5 s)`,
  );
}

/** Releases 1.3.0 … 1.22.0, alternating the images of 1.0.0 and 1.1.0, signed with the demo keys. */
async function manyBundles(d: Demo, dir: string, n: number): Promise<string[]> {
  await cp(join(d.dir, 'demo', 'images'), join(dir, 'images'), { recursive: true });
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const version = `1.${i + 3}.0`;
    const base = i % 2 ? '1.0.0' : '1.1.0';
    const specDir = join(dir, `spec-${version}`);
    await cp(join(d.dir, 'demo', base), specDir, { recursive: true });
    const spec = YAML.parse(await readFile(join(specDir, 'release.yaml'), 'utf8'));
    spec.version = version;
    spec.upgradeFrom = '>=1.0.0';
    await writeFile(join(specDir, 'release.yaml'), YAML.stringify(spec));
    const outPath = join(dir, `drydock-demo-${version}.drydock`);
    await buildBundle({ specPath: join(specDir, 'release.yaml'), keysDir: d.keysDir, outPath });
    out.push(outPath);
  }
  return out;
}

async function restartImports(d: Demo) {
  const b0 = await freshBox(d);
  const bundles = await manyBundles(d, b0.dir, 19); // + 1.0.0 = 20 releases
  const first = timed(createClusterDriver('standin', { root: b0.root }));
  const box = await openBox({ root: b0.root, cluster: first.driver });
  for (const b of bundles) {
    const e = await box.install(ACTOR, b);
    if (e.outcome !== 'committed') throw new Error(`${e.toVersion}: ${e.outcome} ${e.reason}`);
  }
  await box.close();
  const releases = execFileSync('ls', [join(b0.root, 'var/lib/drydock/releases')])
    .toString()
    .trim()
    .split('\n');
  // a restart: a new driver and engine over the same root, converge, then a re-apply (rollback)
  const again = timed(createClusterDriver('standin', { root: b0.root }));
  const box2 = await openBox({ root: b0.root, cluster: again.driver });
  const e = await box2.rollback(ACTOR);
  await box2.close();
  console.log(
    `3. ${releases.length} releases on the box; installing them imported ${first.t.imported} image(s), skipped ${first.t.skipped}; ` +
      `the restart + a re-apply (rollback to ${e.toVersion}, ${e.outcome}) imported ${again.t.imported}, skipped ${again.t.skipped}`,
  );
  await b0.cleanup();
}

const d = await buildDemo();
console.log(
  `engine bench: ${new Date().toISOString()}, node ${process.version}, load ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`,
);
await overhead(d);
await rollbackTime(d);
await restartImports(d);
