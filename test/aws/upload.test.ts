// The EBS direct upload against the stateful EBS/EC2 stand-in: only non-zero blocks are sent, with
// checksums EBS accepts; the snapshot ends up holding exactly the disk; an interrupted upload resumes
// into the same snapshot sending only what is missing; bad input changes nothing.
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompleteSnapshotCommand, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { blockChecksum, linearChecksum, loadJournal, uploadSnapshot } from '../../images/ami/index.ts';
import { BLOCK, expectedBlock, makeDisk } from './disk.ts';
import { FakeAws } from './fake-aws.ts';

const REGION = 'eu-west-1';
const fast = { waitDelays: { min: 0.001, max: 0.002 }, maxWaitSeconds: 10 };
let dir: string;
let fake: FakeAws;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drydock-ebs-'));
  fake = new FakeAws();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function upload(disk: string, extra: Partial<Parameters<typeof uploadSnapshot>[0]> = {}) {
  return uploadSnapshot({
    ebs: fake.clients.ebs(REGION),
    ec2: fake.clients.ec2(REGION),
    diskPath: disk,
    journalPath: `${disk}.journal.json`,
    name: 'demo-1.0.0',
    region: REGION,
    concurrency: 4,
    ...fast,
    ...extra,
  });
}

// 40 full blocks plus 1000 bytes: 41 blocks, the last one partial
const BYTES = 40 * BLOCK + 1000;
const DATA = [0, 1, 2, 7, 8, 15, 16, 17, 18, 19, 23, 30, 31, 33, 39, 40];

describe('upload', () => {
  test('sends only the non-zero blocks and the snapshot holds exactly the disk', async () => {
    const disk = join(dir, 'disk.raw');
    await makeDisk(disk, BYTES, DATA);
    const res = await upload(disk);
    expect(res).toMatchObject({
      resumed: false,
      blocksTotal: 41,
      blocksSent: DATA.length,
      blocksAlreadyDone: 0,
      zeroBlocks: 41 - DATA.length,
      changedBlocksCount: DATA.length,
      bytesSent: DATA.length * BLOCK,
    });
    const snap = fake.region(REGION).snapshots.get(res.snapshotId)!;
    expect(snap.state).toBe('completed');
    expect(snap.volumeSize).toBe(1);
    expect([...snap.blocks.keys()].sort((a, b) => a - b)).toEqual(DATA);
    for (const i of DATA)
      expect(snap.blocks.get(i)!.equals(expectedBlock(i, BYTES)), `block ${i}`).toBe(true);
    // the pool really ran requests in parallel, and never more than asked
    expect(fake.maxInFlight).toBeGreaterThan(1);
    expect(fake.maxInFlight).toBeLessThanOrEqual(4);
    expect(res.maxInFlight).toBeLessThanOrEqual(4);
    expect(fake.count('PutSnapshotBlock')).toBe(DATA.length);
    expect((await loadJournal(`${disk}.journal.json`))!.completed).toBe(true);
  });

  test('an all-zero disk completes an empty snapshot', async () => {
    const disk = join(dir, 'zero.raw');
    await makeDisk(disk, 8 * BLOCK, []);
    const res = await upload(disk);
    expect(res.blocksSent).toBe(0);
    expect(res.zeroBlocks).toBe(8);
    expect(fake.region(REGION).snapshots.get(res.snapshotId)!.state).toBe('completed');
  });

  test('an interrupted upload resumes into the same snapshot and sends only the missing blocks', async () => {
    const disk = join(dir, 'disk.raw');
    await makeDisk(disk, BYTES, DATA);
    fake.failPutsAfter = 6;
    const first = await upload(disk).catch((e) => e);
    expect(first.code).toBe('AWS_FAILED');
    expect(first.message).toMatch(/PutSnapshotBlock \d+ failed: InternalServerException: injected failure/);
    const sentFirst = fake.acceptedPuts.map((p) => p.index);
    expect(sentFirst.length).toBe(6);
    const journal = (await loadJournal(`${disk}.journal.json`))!;
    // everything EBS acknowledged is in the journal, nothing else
    expect(
      Object.keys(journal.blocks)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual([...sentFirst].sort((a, b) => a - b));
    expect(journal.completed).toBe(false);
    expect(fake.count('CompleteSnapshot')).toBe(0);

    fake.failPutsAfter = undefined;
    const second = await upload(disk);
    const sentSecond = fake.acceptedPuts.slice(6).map((p) => p.index);
    expect(second.snapshotId).toBe(journal.snapshotId);
    expect(second.resumed).toBe(true);
    expect(second.blocksAlreadyDone).toBe(6);
    expect(second.blocksSent).toBe(DATA.length - 6);
    expect(sentSecond.filter((i) => sentFirst.includes(i))).toEqual([]);
    expect([...sentFirst, ...sentSecond].sort((a, b) => a - b)).toEqual(DATA);
    expect(fake.count('StartSnapshot')).toBe(1);
    const snap = fake.region(REGION).snapshots.get(second.snapshotId)!;
    expect(snap.state).toBe('completed');
    for (const i of DATA) expect(snap.blocks.get(i)!.equals(expectedBlock(i, BYTES))).toBe(true);
  });

  test('a rerun after completion sends nothing', async () => {
    const disk = join(dir, 'disk.raw');
    await makeDisk(disk, BYTES, DATA);
    const first = await upload(disk);
    const again = await upload(disk);
    expect(again.snapshotId).toBe(first.snapshotId);
    expect(again.blocksSent).toBe(0);
    expect(fake.count('PutSnapshotBlock')).toBe(DATA.length);
    expect(fake.count('StartSnapshot')).toBe(1);
  });

  test('a crash after CompleteSnapshot (snapshot still sealing) waits for it, sends nothing', async () => {
    const disk = join(dir, 'disk.raw');
    await makeDisk(disk, BYTES, DATA);
    const first = await upload(disk);
    const snap = fake.region(REGION).snapshots.get(first.snapshotId)!;
    snap.state = 'completing';
    const again = await upload(disk);
    expect(again.snapshotId).toBe(first.snapshotId);
    expect(again.blocksSent).toBe(0);
    expect(snap.state).toBe('completed');
    expect(fake.count('StartSnapshot')).toBe(1);
    expect(fake.count('CompleteSnapshot')).toBe(1);
  });

  test('a journal for a changed disk or an expired snapshot starts a new snapshot', async () => {
    const disk = join(dir, 'disk.raw');
    await makeDisk(disk, BYTES, DATA);
    fake.failPutsAfter = 3;
    await upload(disk).catch(() => {});
    const old = (await loadJournal(`${disk}.journal.json`))!.snapshotId;
    fake.failPutsAfter = undefined;
    await utimes(disk, new Date(), new Date(Date.now() + 5000));
    const res = await upload(disk);
    expect(res.snapshotId).not.toBe(old);
    expect(res.blocksSent).toBe(DATA.length);

    // a pending snapshot that EBS let expire
    fake.failPutsAfter = fake.acceptedPuts.length + 2;
    const disk2 = join(dir, 'disk2.raw');
    await makeDisk(disk2, BYTES, DATA, 'other');
    await upload(disk2).catch(() => {});
    const stale = (await loadJournal(`${disk2}.journal.json`))!.snapshotId;
    fake.region(REGION).snapshots.get(stale)!.state = 'error';
    fake.failPutsAfter = undefined;
    const res2 = await upload(disk2);
    expect(res2.snapshotId).not.toBe(stale);
    expect(res2.resumed).toBe(false);
  });

  test('a block that changed under an interrupted upload is refused', async () => {
    const disk = join(dir, 'disk.raw');
    await makeDisk(disk, BYTES, DATA);
    fake.failPutsAfter = 3;
    await upload(disk).catch(() => {});
    fake.failPutsAfter = undefined;
    const journal = (await loadJournal(`${disk}.journal.json`))!;
    const index = Number(Object.keys(journal.blocks)[0]);
    journal.blocks[String(index)] = blockChecksum(Buffer.alloc(BLOCK, 1));
    await writeFile(`${disk}.journal.json`, JSON.stringify(journal));
    const err = await upload(disk).catch((e) => e);
    expect(err.code).toBe('BUILD_INPUT_MISSING');
    expect(err.message).toContain(`block ${index} of`);
    expect(fake.count('CompleteSnapshot')).toBe(0);
  });

  test('bad input is refused before anything is sent', async () => {
    const missing = await upload(join(dir, 'nope.raw')).catch((e) => e);
    expect(missing.code).toBe('BUILD_INPUT_MISSING');
    const disk = join(dir, 'disk.raw');
    await makeDisk(disk, BYTES, DATA);
    expect((await upload(disk, { concurrency: 0 }).catch((e) => e)).code).toBe('USAGE');
    await writeFile(`${disk}.journal.json`, '{not json');
    const corrupt = await upload(disk).catch((e) => e);
    expect(corrupt.code).toBe('CONFIG_INVALID');
    expect(await readFile(`${disk}.journal.json`, 'utf8')).toBe('{not json');
    const empty = join(dir, 'empty.raw');
    await writeFile(empty, '');
    expect((await upload(empty).catch((e) => e)).code).toBe('BUILD_INPUT_MISSING');
    expect(fake.calls).toEqual([]);
  });
});

describe('the EBS stand-in is strict like EBS', () => {
  test('it refuses a wrong block checksum, a short block, a wrong count and a wrong aggregate', async () => {
    const ebs = fake.clients.ebs(REGION);
    const { SnapshotId } = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }));
    const block = Buffer.alloc(BLOCK, 7);
    const put = (data: Buffer, checksum: string) =>
      ebs.send(
        new PutSnapshotBlockCommand({
          SnapshotId,
          BlockIndex: 3,
          BlockData: data,
          DataLength: BLOCK,
          Checksum: checksum,
          ChecksumAlgorithm: 'SHA256',
        }),
      );
    await expect(put(block, blockChecksum(Buffer.alloc(BLOCK, 8)))).rejects.toThrow('checksum');
    await expect(put(block.subarray(0, 4096), blockChecksum(block.subarray(0, 4096)))).rejects.toThrow(
      'DataLength',
    );
    await put(block, blockChecksum(block));
    const complete = (count: number, checksum: string) =>
      ebs.send(
        new CompleteSnapshotCommand({
          SnapshotId,
          ChangedBlocksCount: count,
          Checksum: checksum,
          ChecksumAlgorithm: 'SHA256',
          ChecksumAggregationMethod: 'LINEAR',
        }),
      );
    const right = linearChecksum(new Map([[3, blockChecksum(block)]]));
    await expect(complete(2, right)).rejects.toThrow(
      'ChangedBlocksCount 2 does not match the 1 blocks written',
    );
    await expect(complete(1, blockChecksum(block))).rejects.toThrow('aggregated checksum');
    await expect(complete(1, right)).resolves.toMatchObject({ Status: 'pending' });
    await expect(put(block, blockChecksum(block))).rejects.toThrow('completing');
  });
});
