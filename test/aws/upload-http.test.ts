// The upload through the real SDK clients over HTTP to a local EBS endpoint: the wire format
// (headers, checksums, block bodies) is what EBS expects, the SDK's retries give up on a failing
// endpoint, and the resume after that failure sends only what is missing.
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { blockChecksum, uploadSnapshot } from '../../images/ami/index.ts';
import { BLOCK, expectedBlock, makeDisk } from './disk.ts';
import { type EbsHttpFake, startEbsHttpFake } from './ebs-http-fake.ts';

let dir: string;
let server: EbsHttpFake;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drydock-ebs-http-'));
  server = await startEbsHttpFake({ latency: [1, 3] });
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

test('upload over HTTP with the real SDK, interrupted and resumed', async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const common = {
    region: 'us-east-1',
    endpoint: server.url,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 8 }) }),
  };
  const ebs = new EBSClient({ ...common, maxAttempts: 2, retryStrategy: undefined });
  const ec2 = new EC2Client(common);
  const bytes = 24 * BLOCK + 4096;
  const data = [0, 3, 4, 5, 6, 10, 11, 12, 13, 14, 20, 24];
  const disk = join(dir, 'disk.raw');
  await makeDisk(disk, bytes, data);
  const opts = {
    ebs,
    ec2,
    diskPath: disk,
    journalPath: `${disk}.journal.json`,
    name: 'http',
    region: 'us-east-1',
    concurrency: 4,
    waitDelays: { min: 0.01, max: 0.02 },
    maxWaitSeconds: 10,
  };
  server.failAfter = 5;
  const err = await uploadSnapshot(opts).catch((e) => e);
  expect(err.code).toBe('AWS_FAILED');
  expect(err.message).toContain('InternalServerException');
  // the SDK retried the failed blocks before giving up
  expect(server.stats.failed).toBeGreaterThan(data.length - 5);
  server.failAfter = undefined;
  const putsBefore = server.stats.puts;
  const res = await uploadSnapshot(opts);
  expect(res.resumed).toBe(true);
  expect(res.blocksAlreadyDone).toBe(5);
  expect(server.stats.puts - putsBefore).toBe(data.length - 5);
  const snap = server.snapshots.get(res.snapshotId)!;
  expect(snap.state).toBe('completed');
  expect(server.snapshots.size).toBe(1);
  expect([...snap.checksums.keys()].sort((a, b) => a - b)).toEqual(data);
  for (const i of data) expect(snap.checksums.get(i)).toBe(blockChecksum(expectedBlock(i, bytes)));
});
