// Bench of the updater service, as the appliance runs it (`drydock updater serve`, a separate
// process) over the real engine, the demo bundles and the cluster stand-in:
//  1. idle resident memory of the service (goal ≤ 90 MB);
//  2. GET /api/v1/status at a fixed 500 req/s for 30 s from a second process (autocannon) on
//     loopback while updates are applied back to back (stage 1.1.0 → apply → roll back → …):
//     p99 (goal ≤ 20 ms) and errors (goal 0);
//  3. the same load without updates, with the service's CPU time per request (holds on a busy machine);
//  4. the same service started with node flags that trade JIT speed for memory (idle RSS, load);
//  5. the same load against a bare node:https server answering the same bytes (the baseline for the
//     ratios: what TLS + node + loopback cost on this machine).
// Run: npx tsx bench/service.ts [--seconds 30] [--rate 500] [--baseline-seconds 15]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readProcStat } from '../core/proc.ts';
import { buildDemo } from '../examples/demo/index.ts';
import { initBox } from '../updater/engine/index.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 30);
const RATE = arg('rate', 500);
const BASELINE_SECONDS = arg('baseline-seconds', 15);
const PASSWORD = 'bench passphrase 123';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Client {
  port: number;
  ca: Buffer;
  cookie?: string;
  csrf?: string;
}

function call(
  c: Client,
  method: string,
  path: string,
  body?: Buffer | object,
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((res, rej) => {
    const raw =
      body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (raw) {
      headers['content-type'] = Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json';
      headers['content-length'] = String(raw.length);
    }
    if (c.cookie) headers.cookie = c.cookie;
    if (c.csrf) headers['x-csrf-token'] = c.csrf;
    const req = httpsRequest({ host: '127.0.0.1', port: c.port, method, path, headers, ca: c.ca }, (r) => {
      let text = '';
      r.on('data', (d) => (text += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, text, headers: r.headers }));
    });
    req.on('error', rej);
    req.end(raw);
  });
}

function rssMb(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** user + system CPU time of a process so far, in ms (/proc/<pid>/stat, clock ticks of 10 ms) */
function cpuMs(pid: number): number {
  const s = readProcStat(pid);
  if (!s) throw new Error(`process ${pid} is gone`);
  return (s.utimeTicks + s.stimeTicks) * 10;
}

interface Cannon {
  latency: { p50: number; p90: number; p99: number; max: number; average: number };
  requests: { total: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

async function autocannon(url: string, seconds: number, headers: string[]): Promise<Cannon> {
  const args = [
    join(REPO, 'node_modules/autocannon/autocannon.js'),
    '-j',
    '-c',
    '20',
    '-R',
    String(RATE),
    '-d',
    String(seconds),
  ];
  for (const h of headers) args.push('-H', h);
  args.push(url);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.resume();
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`autocannon exited ${code}`);
  return JSON.parse(out) as Cannon;
}

/** `drydock updater serve` in its own process with extra node flags, once it listens. */
async function serveCli(
  root: string,
  flags: string[],
): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      ...flags,
      'bin/drydock.js',
      'updater',
      'serve',
      '--root',
      root,
      '--listen',
      '127.0.0.1:0',
      '--http-redirect',
      'none',
      '--no-schedule',
      '--json',
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((res, rej) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      for (const line of buf.split('\n')) {
        try {
          const j = JSON.parse(line) as { ok?: boolean; url?: string };
          if (j.ok && j.url) res(j.url);
        } catch {}
      }
    });
    child.on('exit', (c) => rej(new Error(`service exited ${c}`)));
  });
  child.stdout!.resume();
  return {
    port: Number(new URL(url).port),
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

async function login(c: Client): Promise<void> {
  const r = await call(c, 'POST', '/api/v1/login', { username: 'admin', password: PASSWORD });
  if (r.status !== 200) throw new Error(`login: ${r.status} ${r.text}`);
  c.cookie = String((r.headers['set-cookie'] as string[])[0]).split(';')[0];
  c.csrf = (JSON.parse(r.text) as { csrfToken: string }).csrfToken;
}

/** A variant of the service: idle RSS after 10 s, then the status load without updates. */
async function variant(root: string, ca: Buffer, flags: string[]) {
  const v = await serveCli(root, flags);
  try {
    await sleep(10_000);
    const idle = rssMb(v.pid).rss;
    const c: Client = { port: v.port, ca };
    await login(c);
    const cpu0 = cpuMs(v.pid);
    const load = await autocannon(`https://127.0.0.1:${v.port}/api/v1/status`, BASELINE_SECONDS, [
      `cookie: ${c.cookie}`,
    ]);
    return { idle, load, cpuPerReq: (cpuMs(v.pid) - cpu0) / load.requests.total };
  } finally {
    await v.stop();
  }
}

async function main() {
  const demo = await buildDemo();
  const root = await mkdtemp(join(tmpdir(), 'drydock-bench-svc-'));
  const pw = join(root, 'pw');
  await writeFile(pw, PASSWORD, { mode: 0o600 });
  await initBox({
    root,
    trustPath: demo.rootPath,
    bundlePath: demo.bundles['1.0.0'],
    cluster: 'standin',
    adminPasswordFile: pw,
  });

  // the service as systemd starts it, in its own process
  const svc = await serveCli(root, []);
  const children: ChildProcess[] = [];
  try {
    const port = svc.port;
    const c: Client = { port, ca: await readFile(join(root, 'etc/drydock/tls/cert.pem')) };
    await sleep(10_000);
    const idle = rssMb(svc.pid);
    await login(c);
    const statusBody = (await call(c, 'GET', '/api/v1/status')).text;
    const bundle = await readFile(demo.bundles['1.1.0']);

    // updates back to back while the load runs
    let loading = true;
    const cycles = { applied: 0, rolledBack: 0, failures: [] as string[] };
    const state = async () =>
      JSON.parse((await call(c, 'GET', '/api/v1/status')).text) as {
        state: string;
        running: { version: string };
      };
    const updater = (async () => {
      while (loading) {
        const up = await call(c, 'POST', '/api/v1/bundles', bundle);
        if (up.status !== 200) {
          cycles.failures.push(`stage ${up.status} ${up.text}`);
          break;
        }
        const ap = await call(c, 'POST', '/api/v1/update/apply?wait=true', {});
        if (ap.status !== 200 || (await state()).running.version !== '1.1.0')
          cycles.failures.push(`apply ${ap.status} ${ap.text}`);
        else cycles.applied++;
        const rb = await call(c, 'POST', '/api/v1/update/rollback?wait=true', {});
        if (rb.status !== 200) cycles.failures.push(`rollback ${rb.status} ${rb.text}`);
        else cycles.rolledBack++;
      }
    })();
    const load = await autocannon(`https://127.0.0.1:${port}/api/v1/status`, SECONDS, [
      `cookie: ${c.cookie}`,
    ]);
    const loadAvg = loadavg()[0]!;
    loading = false;
    await updater;
    const after = rssMb(svc.pid);
    const metrics = (await call(c, 'GET', '/metrics')).text;
    const loopQ = (q: string) =>
      1000 *
      Number(
        new RegExp(`drydock_service_event_loop_delay_seconds\\{quantile="${q}"\\} (\\S+)`).exec(
          metrics,
        )?.[1] ?? Number.NaN,
      );

    // the same load without updates, with the CPU time the service spends per request: CPU time
    // only counts while the process runs, so it holds when other work shares the machine
    const cpu0 = cpuMs(svc.pid);
    const quiet = await autocannon(`https://127.0.0.1:${port}/api/v1/status`, BASELINE_SECONDS, [
      `cookie: ${c.cookie}`,
    ]);
    const svcCpuPerReq = (cpuMs(svc.pid) - cpu0) / quiet.requests.total;

    await svc.stop();
    // the same service with node flags that trade JIT speed for memory (a small young generation;
    // lite mode: no optimizing compiler), measured the same way
    const small = await variant(root, c.ca, ['--max-semi-space-size=1']);
    const lean = await variant(root, c.ca, ['--max-semi-space-size=1', '--lite-mode']);

    // baseline: the same bytes from a bare node:https server in its own process
    const script = `
      const https = require('node:https'); const fs = require('node:fs');
      const body = Buffer.from(${JSON.stringify(statusBody)});
      const s = https.createServer({ cert: fs.readFileSync(${JSON.stringify(join(root, 'etc/drydock/tls/cert.pem'))}),
        key: fs.readFileSync(${JSON.stringify(join(root, 'etc/drydock/tls/key.pem'))}) },
        (q, r) => { r.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }); r.end(body); });
      s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
    const base = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(base);
    const [basePort] = (await once(base.stdout!, 'data')) as [Buffer];
    const baseCpu0 = cpuMs(base.pid!);
    const baseline = await autocannon(
      `https://127.0.0.1:${Number(basePort.toString())}/`,
      BASELINE_SECONDS,
      [],
    );
    const baseCpuPerReq = (cpuMs(base.pid!) - baseCpu0) / baseline.requests.total;

    const fmt = (n: number) => n.toFixed(1);
    console.log(
      `updater service bench (${new Date().toISOString()}, node ${process.version}, ${cpus().length} CPUs)`,
    );
    console.log(
      `load average (1 min) during the load: ${loadAvg.toFixed(1)} on ${cpus().length} CPUs (other work on the machine counts)`,
    );
    console.log(
      `idle RSS of the service:            ${fmt(idle.rss)} MB (goal ≤ 90 MB), as \`drydock updater serve\``,
    );
    console.log(`RSS after the load / peak (VmHWM):  ${fmt(after.rss)} MB / ${fmt(after.hwm)} MB`);
    console.log(`GET /api/v1/status at ${RATE} req/s for ${SECONDS} s over TLS, while updates were applied:`);
    console.log(
      `  requests ${load.requests.total} (${fmt(load.requests.average)}/s), p50 ${load.latency.p50} ms, p90 ${load.latency.p90} ms, ` +
        `p99 ${load.latency.p99} ms (goal ≤ 20 ms), max ${load.latency.max} ms`,
    );
    console.log(`  errors ${load.errors}, timeouts ${load.timeouts}, non-2xx ${load.non2xx} (goal 0)`);
    console.log(
      `  service event-loop delay since start: p99 ${fmt(loopQ('0.99'))} ms, max ${fmt(loopQ('1'))} ms`,
    );
    console.log(
      `  updates applied during the load: ${cycles.applied} (each rolled back again: ${cycles.rolledBack}); failures: ${cycles.failures.length}`,
    );
    for (const f of cycles.failures.slice(0, 3)) console.log(`    ${f.slice(0, 200)}`);
    console.log(`the same load for ${BASELINE_SECONDS} s without updates:`);
    console.log(
      `  p50 ${quiet.latency.p50} ms, p99 ${quiet.latency.p99} ms, errors ${quiet.errors + quiet.timeouts + quiet.non2xx}, ` +
        `service CPU per request ${(svcCpuPerReq * 1000).toFixed(0)} µs`,
    );
    for (const [name, v] of [
      ['node --max-semi-space-size=1', small],
      ['node --max-semi-space-size=1 --lite-mode', lean],
    ] as const) {
      console.log(`the service as ${name}:`);
      console.log(
        `  idle RSS ${fmt(v.idle)} MB; the same load for ${BASELINE_SECONDS} s without updates: p50 ${v.load.latency.p50} ms, ` +
          `p99 ${v.load.latency.p99} ms, errors ${v.load.errors + v.load.timeouts + v.load.non2xx}, CPU per request ${(v.cpuPerReq * 1000).toFixed(0)} µs`,
      );
    }
    console.log(`baseline (bare node:https, same ${statusBody.length}-byte body, ${BASELINE_SECONDS} s):`);
    console.log(
      `  p50 ${baseline.latency.p50} ms, p99 ${baseline.latency.p99} ms, errors ${baseline.errors + baseline.non2xx}, ` +
        `CPU per request ${(baseCpuPerReq * 1000).toFixed(0)} µs`,
    );
    console.log(
      `ratios service / baseline: p99 (with updates) ${fmt(load.latency.p99 / Math.max(baseline.latency.p99, 0.001))}, ` +
        `p99 (without) ${fmt(quiet.latency.p99 / Math.max(baseline.latency.p99, 0.001))}, CPU per request ${fmt(svcCpuPerReq / baseCpuPerReq)}`,
    );
    if (load.errors + load.timeouts + load.non2xx > 0 || cycles.failures.length > 0) process.exitCode = 1;
  } finally {
    await svc.stop();
    for (const ch of children) ch.kill('SIGTERM');
    await sleep(500);
    await rm(root, { recursive: true, force: true });
  }
}

await main();
