// Raw disk → EBS snapshot with the EBS direct APIs: StartSnapshot, PutSnapshotBlock for every block
// that is not all zeros (a bounded pool of requests in flight), CompleteSnapshot with the block count
// and the linear checksum. Every acknowledged block goes into the journal, so a rerun after a crash
// or an error sends only what is missing to the same snapshot.
import { open, stat } from 'node:fs/promises';
import {
  CompleteSnapshotCommand,
  type EBSClient,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
} from '@aws-sdk/client-ebs';
import { DescribeSnapshotsCommand, type EC2Client, waitUntilSnapshotCompleted } from '@aws-sdk/client-ec2';
import { DrydockError } from '../../core/index.ts';
import { awsError } from './aws-error.ts';
import {
  BLOCK_SIZE,
  blockChecksumAsync,
  blockCount,
  checksumHex,
  isZeroBlock,
  linearChecksum,
  readBlocks,
  volumeSizeGiB,
} from './blocks.ts';
import {
  type Journal,
  journalMatches,
  loadJournal,
  newClientToken,
  newJournal,
  saveJournal,
} from './journal.ts';

/** blocks read (and zero-checked, hashed) together: 8 MiB */
const CHUNK_BLOCKS = 16;
/** minutes EBS keeps a pending snapshot open (StartSnapshot Timeout: 3 days); a resume must come within */
const SNAPSHOT_TIMEOUT_MINUTES = 4320;

export interface UploadProgress {
  blocksTotal: number;
  /** blocks looked at so far (written, skipped as zero, or already in the snapshot) */
  blocksScanned: number;
  blocksSent: number;
  zeroBlocks: number;
  bytesSent: number;
  inFlight: number;
}

export interface UploadOptions {
  ebs: EBSClient;
  ec2: EC2Client;
  diskPath: string;
  journalPath: string;
  name: string;
  region: string;
  /** PutSnapshotBlock requests in flight at once (EBS allows up to ~1000 per snapshot) */
  concurrency?: number;
  description?: string;
  tags?: Record<string, string>;
  onProgress?: (p: UploadProgress) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** seconds between polls of the snapshot state (tests make it small) */
  waitDelays?: { min: number; max: number };
  /** seconds to wait for the snapshot to turn completed */
  maxWaitSeconds?: number;
  /** ms between journal writes while blocks go out (a crash re-sends at most this much) */
  journalFlushMs?: number;
}

export interface UploadResult {
  snapshotId: string;
  resumed: boolean;
  blocksTotal: number;
  /** blocks sent in this run */
  blocksSent: number;
  /** blocks an earlier, interrupted run had already sent */
  blocksAlreadyDone: number;
  zeroBlocks: number;
  changedBlocksCount: number;
  bytesSent: number;
  maxInFlight: number;
  seconds: number;
}

export async function uploadSnapshot(opts: UploadOptions): Promise<UploadResult> {
  const started = Date.now();
  const concurrency = opts.concurrency ?? 32;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000)
    throw new DrydockError('USAGE', 'concurrency must be an integer from 1 to 1000');
  const log = opts.log ?? (() => {});
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(opts.diskPath);
  } catch {
    throw new DrydockError('BUILD_INPUT_MISSING', `disk image ${opts.diskPath} does not exist`);
  }
  if (!st.isFile() || st.size === 0)
    throw new DrydockError('BUILD_INPUT_MISSING', `disk image ${opts.diskPath} is not a non-empty file`);
  const disk = { size: st.size, mtimeMs: st.mtimeMs };
  const total = blockCount(disk.size);

  let journal = await loadJournal(opts.journalPath);
  let resumed = false;
  if (journal && !journalMatches(journal, disk, opts.region, opts.name)) {
    log(`journal ${opts.journalPath} belongs to another disk or name; starting a new snapshot`);
    journal = null;
  }
  if (journal) {
    const state = await snapshotState(opts.ec2, journal.snapshotId);
    // completed, or CompleteSnapshot was accepted and EBS is still sealing it
    if (state === 'completed' || (state === 'pending' && journal.completed)) {
      if (state === 'pending') await waitCompleted(opts, journal.snapshotId);
      journal.completed = true;
      await saveJournal(opts.journalPath, journal);
      log(`snapshot ${journal.snapshotId} is already complete`);
      return {
        snapshotId: journal.snapshotId,
        resumed: true,
        blocksTotal: total,
        blocksSent: 0,
        blocksAlreadyDone: Object.keys(journal.blocks).length,
        zeroBlocks: journal.zeroBlocks,
        changedBlocksCount: Object.keys(journal.blocks).length,
        bytesSent: 0,
        maxInFlight: 0,
        seconds: (Date.now() - started) / 1000,
      };
    }
    if (state === 'pending' && !journal.completed) {
      resumed = true;
      log(
        `resuming snapshot ${journal.snapshotId}: ${Object.keys(journal.blocks).length} blocks already sent`,
      );
    } else {
      log(`snapshot ${journal.snapshotId} is ${state ?? 'gone'}; starting a new one`);
      journal = null;
    }
  }
  if (!journal) {
    const clientToken = newClientToken();
    const res = await opts.ebs
      .send(
        new StartSnapshotCommand({
          VolumeSize: volumeSizeGiB(disk.size),
          Description: opts.description ?? `drydock ${opts.name}`,
          Tags: Object.entries(opts.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
          ClientToken: clientToken,
          Timeout: SNAPSHOT_TIMEOUT_MINUTES,
        }),
        { abortSignal: opts.signal },
      )
      .catch((err) => {
        throw awsError('StartSnapshot', err);
      });
    if (!res.SnapshotId) throw new DrydockError('AWS_FAILED', 'StartSnapshot returned no snapshot id');
    if (res.BlockSize !== undefined && res.BlockSize !== BLOCK_SIZE)
      throw new DrydockError('AWS_FAILED', `EBS reports block size ${res.BlockSize}, expected ${BLOCK_SIZE}`);
    journal = newJournal({
      disk,
      region: opts.region,
      name: opts.name,
      snapshotId: res.SnapshotId,
      clientToken,
    });
    await saveJournal(opts.journalPath, journal);
  }

  const j: Journal = journal;
  const alreadyDone = Object.keys(j.blocks).length;
  const progress: UploadProgress = {
    blocksTotal: total,
    blocksScanned: 0,
    blocksSent: 0,
    zeroBlocks: 0,
    bytesSent: 0,
    inFlight: 0,
  };
  let maxInFlight = 0;
  let failure: unknown = null;
  const inFlight = new Set<Promise<void>>();
  let lastFlush = Date.now();
  let flushing: Promise<void> | null = null;
  const flush = async () => {
    while (flushing) await flushing;
    flushing = saveJournal(opts.journalPath, j);
    try {
      await flushing;
    } finally {
      flushing = null;
    }
    lastFlush = Date.now();
  };

  const fh = await open(opts.diskPath, 'r');
  const readBuffer = Buffer.allocUnsafe(CHUNK_BLOCKS * BLOCK_SIZE);
  try {
    for (let first = 0; first < total && failure === null; first += CHUNK_BLOCKS) {
      if (opts.signal?.aborted) {
        failure = new DrydockError('AWS_FAILED', 'upload aborted');
        break;
      }
      // one read buffer for the whole disk (data blocks are copied out), so scanning a mostly
      // empty multi-GB disk does not churn the garbage collector
      const chunk = await readBlocks(fh, first, Math.min(CHUNK_BLOCKS, total - first), disk.size, readBuffer);
      const data: { index: number; block: Buffer }[] = [];
      for (let k = 0; k * BLOCK_SIZE < chunk.length; k++) {
        const view = chunk.subarray(k * BLOCK_SIZE, (k + 1) * BLOCK_SIZE);
        progress.blocksScanned++;
        // a fresh snapshot reads as zeros where nothing was written: nothing to send
        if (isZeroBlock(view)) progress.zeroBlocks++;
        // a copy, so a block in flight does not keep its whole chunk alive
        else data.push({ index: first + k, block: Buffer.from(view) });
      }
      const checksums = await Promise.all(data.map((d) => blockChecksumAsync(d.block)));
      for (const [n, { index, block }] of data.entries()) {
        const checksum = checksums[n]!;
        const done = j.blocks[String(index)];
        if (done !== undefined) {
          if (done !== checksum) {
            // stop sending, but let the requests in flight finish and be recorded
            failure = new DrydockError(
              'BUILD_INPUT_MISSING',
              `block ${index} of ${opts.diskPath} changed since the interrupted upload; remove ${opts.journalPath} to start over`,
            );
            break;
          }
          continue;
        }
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        if (failure !== null) break;
        const command = new PutSnapshotBlockCommand({
          SnapshotId: j.snapshotId,
          BlockIndex: index,
          BlockData: block,
          DataLength: BLOCK_SIZE,
          Checksum: checksum,
          ChecksumAlgorithm: 'SHA256',
          Progress: Math.min(100, Math.floor((100 * (index + 1)) / total)),
        });
        // hand SigV4 the payload hash we already have instead of letting it hash 512 KiB again
        const payloadHash = checksumHex(checksum);
        command.middlewareStack.add(
          (next) => async (args) => {
            const request = args.request as { headers?: Record<string, string> };
            if (request.headers) request.headers['x-amz-content-sha256'] = payloadHash;
            return next(args);
          },
          { step: 'build', name: 'drydockPayloadHash' },
        );
        const put = opts.ebs
          .send(command, { abortSignal: opts.signal })
          .then(
            (res) => {
              if (res.Checksum !== undefined && res.Checksum !== checksum)
                throw new DrydockError('AWS_FAILED', `EBS acknowledged block ${index} with another checksum`);
              j.blocks[String(index)] = checksum;
              progress.blocksSent++;
              progress.bytesSent += BLOCK_SIZE;
            },
            (err) => {
              throw awsError(`PutSnapshotBlock ${index}`, err);
            },
          )
          .catch((err) => {
            if (failure === null) failure = err;
          })
          .finally(() => {
            inFlight.delete(put);
            progress.inFlight = inFlight.size;
          });
        inFlight.add(put);
        progress.inFlight = inFlight.size;
        if (inFlight.size > maxInFlight) maxInFlight = inFlight.size;
        if (Date.now() - lastFlush > (opts.journalFlushMs ?? 1000)) await flush();
      }
      opts.onProgress?.({ ...progress });
    }
    await Promise.all(inFlight);
  } finally {
    await fh.close();
    j.zeroBlocks = progress.zeroBlocks;
    // whatever EBS acknowledged is recorded, also when we stop on an error
    await flush();
  }
  if (failure !== null) throw failure;
  opts.onProgress?.({ ...progress });

  const changed = Object.keys(j.blocks).length;
  const checksums = new Map(Object.entries(j.blocks).map(([k, v]) => [Number(k), v]));
  await opts.ebs
    .send(
      new CompleteSnapshotCommand({
        SnapshotId: j.snapshotId,
        ChangedBlocksCount: changed,
        Checksum: linearChecksum(checksums),
        ChecksumAlgorithm: 'SHA256',
        ChecksumAggregationMethod: 'LINEAR',
      }),
      { abortSignal: opts.signal },
    )
    .catch((err) => {
      throw awsError('CompleteSnapshot', err);
    });
  j.completed = true;
  await saveJournal(opts.journalPath, j);
  await waitCompleted(opts, j.snapshotId);
  return {
    snapshotId: j.snapshotId,
    resumed,
    blocksTotal: total,
    blocksSent: progress.blocksSent,
    blocksAlreadyDone: alreadyDone,
    zeroBlocks: progress.zeroBlocks,
    changedBlocksCount: changed,
    bytesSent: progress.bytesSent,
    maxInFlight,
    seconds: (Date.now() - started) / 1000,
  };
}

async function waitCompleted(opts: UploadOptions, snapshotId: string): Promise<void> {
  const delays = opts.waitDelays ?? { min: 5, max: 30 };
  await waitUntilSnapshotCompleted(
    {
      client: opts.ec2,
      maxWaitTime: opts.maxWaitSeconds ?? 3600,
      minDelay: delays.min,
      maxDelay: delays.max,
      abortSignal: opts.signal,
    },
    { SnapshotIds: [snapshotId] },
  ).catch((err) => {
    throw awsError(`waiting for snapshot ${snapshotId}`, err);
  });
}

async function snapshotState(ec2: EC2Client, snapshotId: string): Promise<string | null> {
  try {
    const res = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    return res.Snapshots?.[0]?.State ?? null;
  } catch (err) {
    if ((err as Error).name === 'InvalidSnapshot.NotFound') return null;
    throw awsError('DescribeSnapshots', err);
  }
}
