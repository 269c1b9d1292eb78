// A local EBS direct API endpoint (plus EC2 DescribeSnapshots) on 127.0.0.1, speaking the services'
// wire protocols, so the real SDK clients — serialisation, signing, retries, HTTP agent — run
// against it via `endpoint`. It checks every block's checksum, counts blocks, refuses a wrong
// CompleteSnapshot, and can add latency per block and fail blocks on purpose. Used by the bench and
// by a test.
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const BLOCK = 524288;

export interface HttpFakeSnapshot {
  id: string;
  state: 'pending' | 'completed';
  volumeSize: number;
  checksums: Map<number, string>;
}

export interface EbsHttpFake {
  url: string;
  snapshots: Map<string, HttpFakeSnapshot>;
  stats: { puts: number; inFlight: number; maxInFlight: number; inFlightSum: number; failed: number };
  /** ms of latency for each PutSnapshotBlock: [min, max] */
  latency: [number, number];
  /** answer PutSnapshotBlock with 500 after this many accepted blocks */
  failAfter: number | undefined;
  close(): Promise<void>;
}

export async function startEbsHttpFake(
  opts: { latency?: [number, number]; storeChecksumsOnly?: boolean } = {},
): Promise<EbsHttpFake> {
  const snapshots = new Map<string, HttpFakeSnapshot>();
  const stats = { puts: 0, inFlight: 0, maxInFlight: 0, inFlightSum: 0, failed: 0 };
  const state = { latency: opts.latency ?? [0, 0], failAfter: undefined as number | undefined };

  const error = (res: ServerResponse, status: number, type: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
    res.end(JSON.stringify({ Message: message, message }));
  };
  const body = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const data = await body(req);
    if (req.method === 'POST' && url.pathname === '/snapshots') {
      const input = JSON.parse(data.toString() || '{}');
      const snap: HttpFakeSnapshot = {
        id: `snap-${randomUUID().replaceAll('-', '').slice(0, 17)}`,
        state: 'pending',
        volumeSize: input.VolumeSize,
        checksums: new Map(),
      };
      snapshots.set(snap.id, snap);
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          SnapshotId: snap.id,
          Status: 'pending',
          BlockSize: BLOCK,
          VolumeSize: snap.volumeSize,
          StartTime: Date.now() / 1000,
        }),
      );
      return;
    }
    const put = /^\/snapshots\/([^/]+)\/blocks\/(\d+)$/.exec(url.pathname);
    if (req.method === 'PUT' && put) {
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      stats.inFlightSum += stats.inFlight;
      try {
        const [min, max] = state.latency;
        await new Promise((r) => setTimeout(r, min + Math.random() * (max - min)));
        const snap = snapshots.get(put[1]!);
        if (!snap) return error(res, 404, 'ResourceNotFoundException', 'snapshot not found');
        if (snap.state !== 'pending')
          return error(res, 400, 'ValidationException', 'snapshot is not pending');
        if (state.failAfter !== undefined && stats.puts >= state.failAfter) {
          stats.failed++;
          return error(res, 500, 'InternalServerException', 'injected failure');
        }
        const digest = createHash('sha256').update(data).digest();
        const checksum = digest.toString('base64');
        // SigV4 signs this header; AWS rejects a request whose body does not hash to it
        const payloadHash = req.headers['x-amz-content-sha256'];
        if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== digest.toString('hex'))
          return error(res, 400, 'XAmzContentSHA256Mismatch', 'payload hash does not match the body');
        if (Number(req.headers['x-amz-data-length']) !== BLOCK || data.length !== BLOCK)
          return error(res, 400, 'ValidationException', 'DataLength must be 524288');
        if (
          req.headers['x-amz-checksum-algorithm'] !== 'SHA256' ||
          req.headers['x-amz-checksum'] !== checksum
        )
          return error(res, 400, 'ValidationException', 'checksum mismatch');
        snap.checksums.set(Number(put[2]), checksum);
        stats.puts++;
        res.writeHead(201, { 'x-amz-checksum': checksum, 'x-amz-checksum-algorithm': 'SHA256' });
        res.end();
      } finally {
        stats.inFlight--;
      }
      return;
    }
    const complete = /^\/snapshots\/completion\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && complete) {
      const snap = snapshots.get(complete[1]!);
      if (!snap) return error(res, 404, 'ResourceNotFoundException', 'snapshot not found');
      if (Number(req.headers['x-amz-changedblockscount']) !== snap.checksums.size)
        return error(
          res,
          400,
          'ValidationException',
          `ChangedBlocksCount does not match ${snap.checksums.size}`,
        );
      const h = createHash('sha256');
      for (const i of [...snap.checksums.keys()].sort((a, b) => a - b))
        h.update(Buffer.from(snap.checksums.get(i)!, 'base64'));
      if (req.headers['x-amz-checksum'] !== h.digest('base64'))
        return error(res, 400, 'ValidationException', 'aggregated checksum mismatch');
      snap.state = 'completed';
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ Status: 'completed' }));
      return;
    }
    // EC2 query protocol: only DescribeSnapshots
    if (req.method === 'POST' && url.pathname === '/') {
      const form = new URLSearchParams(data.toString());
      if (form.get('Action') !== 'DescribeSnapshots') return error(res, 400, 'InvalidAction', 'unsupported');
      const ids = [...form.entries()].filter(([k]) => k.startsWith('SnapshotId.')).map(([, v]) => v);
      const items = ids
        .map((id) => snapshots.get(id))
        .filter((s): s is HttpFakeSnapshot => !!s)
        .map(
          (s) =>
            `<item><snapshotId>${s.id}</snapshotId><status>${s.state}</status><volumeSize>${s.volumeSize}</volumeSize></item>`,
        )
        .join('');
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><DescribeSnapshotsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><snapshotSet>${items}</snapshotSet></DescribeSnapshotsResponse>`,
      );
      return;
    }
    // the bench runs the endpoint in its own process and reads and sets these
    if (url.pathname === '/__stats') {
      if (req.method === 'POST') Object.assign(state, JSON.parse(data.toString()));
      if (req.method === 'DELETE') Object.assign(stats, { maxInFlight: 0 });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...stats, snapshots: snapshots.size }));
      return;
    }
    error(res, 404, 'UnknownOperationException', `${req.method} ${url.pathname}`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => error(res, 500, 'InternalServerException', String(err)));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const fake: EbsHttpFake = {
    url: `http://127.0.0.1:${port}`,
    snapshots,
    stats,
    get latency() {
      return state.latency as [number, number];
    },
    set latency(v) {
      state.latency = v;
    },
    get failAfter() {
      return state.failAfter;
    },
    set failAfter(v) {
      state.failAfter = v;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return fake;
}
