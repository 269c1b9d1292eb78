// A real crash: the uploader process is SIGKILLed mid-upload (no cleanup runs). Rerunning resumes
// the same snapshot and sends only the blocks the journal does not record; blocks EBS had taken
// after the last journal write are sent again, which EBS treats as an overwrite.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { blockChecksum, loadJournal, uploadSnapshot } from '../../images/ami/index.ts';
import { BLOCK, expectedBlock, makeDisk } from './disk.ts';
import { type EbsHttpFake, startEbsHttpFake } from './ebs-http-fake.ts';

let dir: string;
let server: EbsHttpFake;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drydock-ebs-kill-'));
  server = await startEbsHttpFake({ latency: [15, 25] });
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

test('an upload killed with SIGKILL resumes and sends only what the journal lacks', async () => {
  const data = Array.from({ length: 160 }, (_, i) => i * 2 + 1);
  const bytes = 400 * BLOCK;
  const disk = join(dir, 'disk.raw');
  const journalPath = `${disk}.journal.json`;
  await makeDisk(disk, bytes, data);

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/aws/upload-child.ts', server.url, disk, journalPath],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (c) => {
    stderr += String(c);
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  // kill it once the journal holds a good part of the blocks
  const deadline = Date.now() + 30_000;
  for (;;) {
    const j = await loadJournal(journalPath).catch(() => null);
    if (j && Object.keys(j.blocks).length >= 20) break;
    if (Date.now() > deadline) throw new Error(`the child never got going: ${stderr}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  // requests the dead process had on the wire still land, as they would at EBS
  while (server.stats.inFlight > 0) await new Promise((r) => setTimeout(r, 5));

  const journal = (await loadJournal(journalPath))!;
  const recorded = new Set(Object.keys(journal.blocks).map(Number));
  const snap = server.snapshots.get(journal.snapshotId)!;
  const takenBeforeKill = new Set(snap.checksums.keys());
  expect(recorded.size).toBeGreaterThanOrEqual(20);
  expect(recorded.size).toBeLessThan(data.length);
  // the journal never claims a block EBS did not take
  for (const i of recorded) expect(takenBeforeKill.has(i)).toBe(true);

  const putsBefore = server.stats.puts;
  const common = {
    region: 'us-east-1',
    endpoint: server.url,
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  };
  const res = await uploadSnapshot({
    ebs: new EBSClient(common),
    ec2: new EC2Client(common),
    diskPath: disk,
    journalPath,
    name: 'kill',
    region: 'us-east-1',
    concurrency: 4,
    waitDelays: { min: 0.01, max: 0.02 },
  });
  expect(res.snapshotId).toBe(journal.snapshotId);
  expect(res.resumed).toBe(true);
  expect(res.blocksAlreadyDone).toBe(recorded.size);
  expect(res.blocksSent).toBe(data.length - recorded.size);
  expect(server.stats.puts - putsBefore).toBe(data.length - recorded.size);
  expect(server.snapshots.size).toBe(1);
  expect(snap.state).toBe('completed');
  expect([...snap.checksums.keys()].sort((a, b) => a - b)).toEqual(data);
  for (const i of data) expect(snap.checksums.get(i)).toBe(blockChecksum(expectedBlock(i, bytes)));
});
