// Figures of the image pipeline on this machine:
//   1. each stage of `drydock build ova` and the total (base OS from scratch with --fresh-base),
//   2. the OVA's size,
//   3. `ova pack` (convert + hash-while-writing + tar in one pass) against the same work done by
//      separate commands — qemu-img convert, sha256sum, tar — on the same disk, in the same run,
//   4. boot of the built disk to the updater answering HTTPS under TCG.
// Run: node --import tsx bench/images.ts [--fresh-base] [--skip-build] [--skip-boot]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bootVm, buildImage, freePort, makeOvfEnvIso, packOva } from '../images/index.ts';

const args = new Set(process.argv.slice(2));
const repo = resolve('.');
const work = mkdtempSync(join(tmpdir(), 'drydock-bench-images-'));
const cacheDir = args.has('--fresh-base') ? join(work, 'cache') : join(repo, '.cache', 'images');
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

async function main() {
  console.log(
    `machine: ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, load ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ')}`,
  );
  let disk: string;
  let dataDisk: string;
  let ova: string | undefined;
  let accel: 'kvm' | 'tcg' = 'tcg';
  const prior = join(cacheDir, 'builds', 'drydock-demo-1.0.0-ova');
  if (args.has('--skip-build') && existsSync(join(prior, 'disk.qcow2'))) {
    disk = join(prior, 'disk.qcow2');
    dataDisk = join(prior, 'data.qcow2');
    console.log(`using the last build in ${prior}`);
  } else {
    const t0 = performance.now();
    const r = await buildImage({ target: 'ova', repo, cacheDir, distDir: work });
    const total = performance.now() - t0;
    console.log('\nstage                     time');
    for (const [k, v] of Object.entries(r.stages))
      console.log(`${k.padEnd(24)} ${v.toFixed(1).padStart(7)} s`);
    console.log(
      `${'total'.padEnd(24)} ${(total / 1000).toFixed(1).padStart(7)} s  (base ${r.base?.cached ? 'from cache' : 'built'}, accel ${r.accel})`,
    );
    for (const o of r.omitted) console.log(`left out: ${o}`);
    disk = r.disk!;
    dataDisk = r.dataDisk!;
    ova = r.artifact;
    accel = r.accel ?? 'tcg';
    console.log(`\nOVA size: ${mib(statSync(ova).size)} (${ova})`);
  }

  // ova pack vs. separate commands, same disk, same run; the page cache is warm for both
  const raw = join(work, 'disk.raw');
  execFileSync('qemu-img', ['convert', '-O', 'raw', disk, raw]);
  const ours = join(work, 'ours.ova');
  const t1 = performance.now();
  await packOva({ disks: [raw], out: ours, name: 'bench' });
  const oursMs = performance.now() - t1;
  const b = join(work, 'baseline');
  execFileSync('mkdir', ['-p', b]);
  writeFileSync(join(b, 'bench.ovf'), execFileSync('tar', ['xOf', ours, 'bench.ovf']));
  const baseMs =
    timed(() =>
      execFileSync('qemu-img', [
        'convert',
        '-O',
        'vmdk',
        '-o',
        'subformat=streamOptimized,adapter_type=lsilogic',
        raw,
        join(b, 'bench-disk1.vmdk'),
      ]),
    ) +
    timed(() => {
      const sums = execFileSync('sha256sum', ['bench.ovf', 'bench-disk1.vmdk'], { cwd: b, encoding: 'utf8' });
      writeFileSync(
        join(b, 'bench.mf'),
        sums
          .trim()
          .split('\n')
          .map((l) => {
            const [h, f] = l.split(/\s+/);
            return `SHA256(${f})= ${h}\n`;
          })
          .join(''),
      );
    }) +
    timed(() =>
      execFileSync(
        'tar',
        ['--format=ustar', '-cf', join(b, 'bench.ova'), 'bench.ovf', 'bench.mf', 'bench-disk1.vmdk'],
        { cwd: b },
      ),
    );
  const size = statSync(ours).size;
  console.log(`\nova pack of a ${mib(statSync(raw).size)} raw disk (${mib(size)} OVA):`);
  console.log(
    `  drydock ova pack:                       ${secs(oursMs)}  ${mib(size / (oursMs / 1000))}/s of OVA`,
  );
  console.log(`  qemu-img convert + sha256sum + tar:     ${secs(baseMs)}`);
  console.log(`  ratio (separate commands / ova pack):   ${(baseMs / oursMs).toFixed(2)}  (goal >= 1.0)`);

  if (args.has('--skip-boot')) {
    rmSync(work, { recursive: true, force: true });
    return;
  }
  // boot to the admin page under TCG
  const iso = await makeOvfEnvIso(work, { hostname: 'bench-box', admin_password: 'Correct-Horse-7-Battery' });
  const port = await freePort();
  const t2 = performance.now();
  const vm = bootVm({
    disks: [
      { path: disk, format: 'qcow2' },
      { path: dataDisk, format: 'qcow2' },
    ],
    iso,
    consoleLog: join(work, 'console.log'),
    accel,
    httpsPort: port,
    memoryMb: 3072,
  });
  let answered = -1;
  let loginPrompt = -1;
  const deadline = Date.now() + 15 * 60_000;
  while (Date.now() < deadline && answered < 0) {
    if (loginPrompt < 0 && /login:/.test(await vm.console())) loginPrompt = performance.now() - t2;
    const status = await new Promise<number>((r) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, timeout: 5000 },
        (res) => {
          res.resume();
          r(res.statusCode ?? 0);
        },
      );
      req.on('error', () => r(0));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (status > 0) answered = performance.now() - t2;
    else await new Promise((r) => setTimeout(r, 2000));
  }
  await vm.stop();
  console.log(
    `\nboot under ${accel.toUpperCase()} (2 vCPU, 3 GiB): login prompt ${loginPrompt < 0 ? 'not seen' : secs(loginPrompt)}, admin page answering ${answered < 0 ? 'NOT within 15 min' : secs(answered)}`,
  );
  rmSync(work, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
