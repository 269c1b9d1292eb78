// Snapshot upload speed: a sparse multi-GB raw disk uploaded with the real EBS client to a local
// fake EBS endpoint on 127.0.0.1 that adds realistic latency to every PutSnapshotBlock (and checks
// each block's checksum). Prints, per pool size: time, blocks in flight, MB/s of data sent, disk
// MB/s, zero blocks skipped, and the ratio to `sha256sum` of the same file (same process tree).
//
//   node --import tsx bench/ebs.ts [--size-gib 4] [--data 0.15] [--latency 20-40] [--concurrency 8,32,64]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { BLOCK_SIZE, uploadSnapshot } from '../images/ami/index.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { values } = parseArgs({
  options: {
    'size-gib': { type: 'string', default: '4' },
    data: { type: 'string', default: '0.15' },
    latency: { type: 'string', default: '20-40' },
    concurrency: { type: 'string', default: '8,32,64' },
  },
});
const sizeGiB = Number(values['size-gib']);
const dataFraction = Number(values.data);
const [latMin, latMax] = String(values.latency).split('-').map(Number) as [number, number];
const pools = String(values.concurrency).split(',').map(Number);

const dir = await mkdtemp(join(tmpdir(), 'drydock-bench-ebs-'));
const disk = join(dir, 'disk.raw');
const bytes = sizeGiB * 1024 ** 3;
const blocks = bytes / BLOCK_SIZE;

// a filesystem-like layout: runs of 1–64 data blocks scattered over the disk, the rest holes
const fh = await open(disk, 'w');
await fh.truncate(bytes);
let written = 0;
let seed = 1;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const target = Math.floor(blocks * dataFraction);
const used = new Set<number>();
while (written < target) {
  const start = Math.floor(rand() * blocks);
  const run = 1 + Math.floor(rand() * 64);
  for (let i = start; i < Math.min(blocks, start + run) && written < target; i++) {
    if (used.has(i)) continue;
    used.add(i);
    await fh.write(randomBytes(BLOCK_SIZE), 0, BLOCK_SIZE, i * BLOCK_SIZE);
    written++;
  }
}
await fh.close();

const t0 = performance.now();
execFileSync('sha256sum', [disk]);
const shaSeconds = (performance.now() - t0) / 1000;

// the endpoint runs in its own process, as a remote service would not share our event loop
const child = spawn(
  process.execPath,
  ['--import', 'tsx', 'test/aws/ebs-http-fake-main.ts', `${latMin}-${latMax}`],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const [line] = (await once(child.stdout!, 'data')) as [Buffer];
const server = { url: line.toString().trim() };
const stats = async (method = 'GET') =>
  (await (await fetch(`${server.url}/__stats`, { method })).json()) as {
    puts: number;
    inFlightSum: number;
    maxInFlight: number;
  };
console.log(
  `disk: ${sizeGiB} GiB sparse raw, ${blocks} blocks of 512 KiB, ${written} with data (${((written * BLOCK_SIZE) / 1024 ** 2).toFixed(0)} MiB), ${blocks - written} zero`,
);
console.log(
  `fake EBS endpoint ${server.url}: ${latMin}–${latMax} ms per PutSnapshotBlock, checksums verified`,
);
console.log(`baseline: sha256sum of the disk ${shaSeconds.toFixed(2)} s\n`);
console.log(
  'pool  seconds  sent   zero-skipped  in-flight max/avg  data MB/s  disk MB/s  blocks/s  vs sha256sum  ideal s',
);
for (const concurrency of pools) {
  await stats('DELETE');
  const before = await stats();
  const common = {
    region: 'us-east-1',
    endpoint: server.url,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, maxSockets: concurrency }),
    }),
  };
  const start = performance.now();
  const res = await uploadSnapshot({
    ebs: new EBSClient(common),
    ec2: new EC2Client(common),
    diskPath: disk,
    journalPath: join(dir, `journal-${concurrency}.json`),
    name: `bench-${concurrency}`,
    region: 'us-east-1',
    concurrency,
    waitDelays: { min: 0.05, max: 0.1 },
  });
  const s = (performance.now() - start) / 1000;
  const after = await stats();
  const puts = after.puts - before.puts;
  const avgInFlight = (after.inFlightSum - before.inFlightSum) / Math.max(1, puts);
  const ideal = (res.blocksSent * ((latMin + latMax) / 2)) / 1000 / concurrency;
  console.log(
    [
      String(concurrency).padStart(4),
      s.toFixed(2).padStart(8),
      String(res.blocksSent).padStart(5),
      String(res.zeroBlocks).padStart(13),
      `${after.maxInFlight}/${avgInFlight.toFixed(1)}`.padStart(18),
      (res.bytesSent / 1024 ** 2 / s).toFixed(1).padStart(10),
      (bytes / 1024 ** 2 / s).toFixed(0).padStart(10),
      (res.blocksSent / s).toFixed(0).padStart(9),
      `${(s / shaSeconds).toFixed(2)}x`.padStart(13),
      ideal.toFixed(2).padStart(8),
    ].join(' '),
  );
}
child.kill('SIGTERM');
await rm(dir, { recursive: true, force: true });
