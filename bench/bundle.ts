// Bundle figures (docs/release-bundles.md): verify throughput on a ≥ 2 GiB bundle of incompressible blobs as a
// ratio to sha256sum of the same file in the same run; peak RSS (VmHWM) of the processes that build
// and verify it; and the size of the 1.0.0→1.1.0 delta as a fraction of the full 1.1.0 bundle.
//   node --import tsx bench/bundle.ts            (BENCH_GB=2 by default; BENCH_DIR for the temp folder)
// Build and verify run in child processes, so their VmHWM is theirs alone; each child reads
// /proc/self/status as its last act and reports it.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1 << 20;

async function vmHWM(): Promise<number> {
  const s = await readFile('/proc/self/status', 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(s)![1]) * 1024;
}

/** child modes: run one operation, print {seconds, cpuSeconds, hwm} */
async function child(mode: string, args: string[]): Promise<void> {
  // load the code first: the figures are for the work, not for module loading
  const { buildBundle, readBundle } = await import('../updater/bundle/index.ts');
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let extra: Record<string, unknown>;
  if (mode === 'build') {
    const r = await buildBundle({ specPath: args[0]!, keysDir: args[1]!, outPath: args[2]! });
    extra = { bytes: r.bytes, blobs: r.blobs };
  } else {
    const r = await readBundle(args[0]!, { trustedRoot: args[1]!, blobs: null });
    extra = { bytes: r.bytes, blobs: r.verified };
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  process.stdout.write(
    `${JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, hwm: await vmHWM(), ...extra })}\n`,
  );
}

/** VmHWM of a child that only loads the same modules: what the runtime (node + tsx) costs by itself */
async function baseline(): Promise<number> {
  await import('../updater/bundle/index.ts');
  return vmHWM();
}

function runChild(
  mode: string,
  args: string[],
): Promise<{ seconds: number; cpuSeconds: number; hwm: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', SELF, '--child', mode, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`${mode} child exit ${code}`)),
    );
  });
}

/** Runs the real CLI and samples its VmHWM from /proc/<pid>/status until it exits. */
function cliPeak(args: string[]): Promise<{ seconds: number; hwm: number; code: number | null }> {
  const cli = join(SELF, '..', '..', 'bin', 'drydock.js');
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(process.execPath, [cli, ...args], { stdio: 'ignore' });
    let hwm = 0;
    const sample = async () => {
      const s = await readFile(`/proc/${p.pid}/status`, 'utf8').catch(() => '');
      const m = /VmHWM:\s+(\d+) kB/.exec(s);
      if (m) hwm = Math.max(hwm, Number(m[1]) * 1024);
    };
    const timer = setInterval(sample, 20);
    p.on('exit', (code) => {
      clearInterval(timer);
      resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, hwm, code });
    });
  });
}

/**
 * sha256sum of the file; wall time from here, CPU time of the child from bash's `times`. Also used
 * with `openssl dgst -sha256`, the same SHA-256 code (OpenSSL's) that node:crypto runs.
 */
async function sha256sum(file: string, cmd = 'sha256sum'): Promise<{ seconds: number; cpuSeconds: number }> {
  const t0 = process.hrtime.bigint();
  const { stdout } = await promisify(execFile)('bash', [
    '-c',
    `${cmd} "$1" >/dev/null; times`,
    'bench',
    file,
  ]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // `times` prints shell then children: "0m1.234s 0m0.100s"
  const line = stdout.trim().split('\n').at(-1)!;
  const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { seconds, cpuSeconds: secs.reduce((a, b) => a + b, 0) };
}

/** A random (incompressible) blob written straight into the layout, hashed on the way. */
async function randomBlob(dir: string, size: number): Promise<{ digest: string; size: number }> {
  const tmp = join(dir, 'blobs', 'sha256', 'tmp');
  const fh = await open(tmp, 'w');
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(8 * MiB);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, buf.length);
    randomFillSync(buf, 0, n);
    h.update(buf.subarray(0, n));
    await fh.write(buf, 0, n);
    left -= n;
  }
  await fh.close();
  const hex = h.digest('hex');
  await rename(tmp, join(dir, 'blobs', 'sha256', hex));
  return { digest: `sha256:${hex}`, size };
}

async function jsonBlob(dir: string, doc: unknown) {
  const b = Buffer.from(JSON.stringify(doc));
  const hex = createHash('sha256').update(b).digest('hex');
  await writeFile(join(dir, 'blobs', 'sha256', hex), b);
  return { digest: `sha256:${hex}`, size: b.length };
}

async function bigRelease(root: string, totalBytes: number, layerBytes: number): Promise<string> {
  const layout = join(root, 'oci');
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  const layers = [];
  for (let left = totalBytes; left > 0; left -= layerBytes)
    layers.push({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      ...(await randomBlob(layout, Math.min(left, layerBytes))),
    });
  const config = await jsonBlob(layout, {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const manifest = await jsonBlob(layout, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers,
  });
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'big' },
        },
      ],
    }),
  );
  await writeFile(join(root, 'app.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\n');
  const spec = join(root, 'release.yaml');
  await writeFile(
    spec,
    [
      'name: bench',
      'version: 1.0.0',
      'upgradeFrom: ">=0.0.0"',
      'images: [{ ref: "bench.local/big:1", layout: oci, tag: big }]',
      'manifests: [app.yaml]',
      'health: { deadlineSeconds: 60, workloads: [] }',
    ].join('\n'),
  );
  return spec;
}

async function deltaFigure(work: string): Promise<{ source: string; delta: number; full: number }> {
  try {
    const { buildDemo } = await import('../examples/demo/index.ts');
    const demo = await buildDemo();
    return {
      source: 'examples/demo buildDemo() bundles',
      delta: (await stat(demo.deltas['1.1.0'])).size,
      full: (await stat(demo.bundles['1.1.0'])).size,
    };
  } catch (e) {
    // the demo could not be built here: two releases of our own sharing all but one layer
    process.stderr.write(`demo unavailable (${(e as Error).message}); using two synthetic releases\n`);
    const { buildBundle } = await import('../updater/bundle/index.ts');
    const { initKeys } = await import('../updater/tuf/index.ts');
    const { writeRelease } = await import('../test/bundle/fixtures.ts');
    const keys = join(work, 'delta-keys');
    await initKeys({ dir: keys });
    const base = randomFill(4 * MiB);
    const s1 = await writeRelease(join(work, 'd1'), { version: '1.0.0', webLayer: base });
    const s2 = await writeRelease(join(work, 'd2'), { version: '1.1.0', webLayer: randomFill(64 * 1024) });
    await buildBundle({ specPath: s1, keysDir: keys, outPath: join(work, 'd1.drydock') });
    const d = await buildBundle({
      specPath: s2,
      keysDir: keys,
      outPath: join(work, 'd2-delta.drydock'),
      deltaFrom: join(work, 'd1.drydock'),
    });
    const f = await buildBundle({ specPath: s2, keysDir: keys, outPath: join(work, 'd2.drydock') });
    return { source: 'synthetic releases (fallback)', delta: d.bytes, full: f.bytes };
  }
}

function randomFill(n: number): Buffer {
  return randomFillSync(Buffer.allocUnsafe(n));
}

const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const gb = Number(process.env.BENCH_GB ?? 2);
  const total = Math.round(gb * 1024 * MiB);
  const work = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'drydock-bench-'));
  try {
    process.stderr.write(`writing ${mb(total)} of random layers in ${work} ...\n`);
    const spec = await bigRelease(join(work, 'src'), total, 128 * MiB);
    const { initKeys } = await import('../updater/tuf/index.ts');
    const keys = join(work, 'keys');
    await initKeys({ dir: keys });
    const bundle = join(work, 'big.drydock');
    process.stderr.write('building the bundle (child process) ...\n');
    const build = await runChild('build', [spec, keys, bundle]);
    await rm(join(work, 'src'), { recursive: true }); // keep the page cache for the bundle
    const size = (await stat(bundle)).size;

    // alternate, best of three each, so both see the same cache state
    const verify: Awaited<ReturnType<typeof runChild>>[] = [];
    const sums: Awaited<ReturnType<typeof sha256sum>>[] = [];
    const ossl: Awaited<ReturnType<typeof sha256sum>>[] = [];
    for (let i = 0; i < 3; i++) {
      process.stderr.write(`round ${i + 1}: sha256sum, openssl, then verify ...\n`);
      sums.push(await sha256sum(bundle));
      ossl.push(await sha256sum(bundle, 'openssl dgst -sha256'));
      verify.push(await runChild('verify', [bundle, join(keys, 'root.json')]));
    }
    const best = <T extends { seconds: number }>(xs: T[]) =>
      xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const v = best(verify);
    const s = best(sums);
    const vCpu = Math.min(...verify.map((x) => x.cpuSeconds));
    const sCpu = Math.min(...sums.map((x) => x.cpuSeconds));
    const o = best(ossl);
    const oCpu = Math.min(...ossl.map((x) => x.cpuSeconds));
    const base = await runChild('baseline', []);
    // the whole CLI as users run it (all command groups registered, through tsx)
    const cliVersion = await cliPeak(['--version']);
    const cliVerify = await cliPeak(['release', 'verify', bundle, '--root', join(keys, 'root.json')]);
    if (cliVerify.code !== 0) throw new Error(`drydock release verify exited ${cliVerify.code}`);
    const delta = await deltaFigure(work);

    const figures = {
      bundleBytes: size,
      verifyMiBps: size / MiB / v.seconds,
      sha256sumMiBps: size / MiB / s.seconds,
      verifyRatioWall: s.seconds / v.seconds,
      verifyRatioCpu: sCpu / vCpu,
      opensslMiBps: size / MiB / o.seconds,
      verifyRatioOpensslWall: o.seconds / v.seconds,
      verifyRatioOpensslCpu: oCpu / vCpu,
      buildSeconds: build.seconds,
      buildPeakRss: build.hwm,
      verifyPeakRss: Math.max(...verify.map((x) => x.hwm)),
      runtimeBaselineRss: base.hwm,
      cliVerifyPeakRss: cliVerify.hwm,
      cliVerifySeconds: cliVerify.seconds,
      cliVersionPeakRss: cliVersion.hwm,
      deltaBytes: delta.delta,
      fullBytes: delta.full,
      deltaFraction: delta.delta / delta.full,
      deltaSource: delta.source,
    };
    console.log(
      `bundle:                ${mb(size)} (${Math.round(total / (128 * MiB))} random layers of ≤128 MiB)`,
    );
    console.log(
      `verify throughput:     ${figures.verifyMiBps.toFixed(0)} MiB/s vs sha256sum ${figures.sha256sumMiBps.toFixed(0)} MiB/s → ratio ${figures.verifyRatioWall.toFixed(2)} (wall, best of 3); ${figures.verifyRatioCpu.toFixed(2)} (CPU time)`,
    );
    console.log(
      `  same hash code:     openssl dgst -sha256 ${figures.opensslMiBps.toFixed(0)} MiB/s → ratio ${figures.verifyRatioOpensslWall.toFixed(2)} (wall); ${figures.verifyRatioOpensslCpu.toFixed(2)} (CPU time)`,
    );
    console.log(
      `peak RSS (VmHWM):      build ${mb(build.hwm)}, verify ${mb(figures.verifyPeakRss)}; node+tsx with these modules loaded, idle: ${mb(base.hwm)} (build took ${build.seconds.toFixed(1)} s)`,
    );
    console.log(
      `  whole CLI:          drydock release verify ${mb(cliVerify.hwm)} peak, ${cliVerify.seconds.toFixed(1)} s end to end; drydock --version alone ${mb(cliVersion.hwm)} peak`,
    );
    console.log(
      `delta 1.0.0→1.1.0:     ${delta.delta} of ${delta.full} bytes = ${(100 * figures.deltaFraction).toFixed(1)}% of the full 1.1.0 bundle (${delta.source})`,
    );
    console.log(JSON.stringify(figures));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--child' && argv[1] === 'baseline')
  process.stdout.write(`${JSON.stringify({ seconds: 0, cpuSeconds: 0, hwm: await baseline() })}\n`);
else if (argv[0] === '--child') await child(argv[1]!, argv.slice(2));
else await main();
