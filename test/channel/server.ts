// A real static HTTP server on 127.0.0.1 for channel tests: serves a folder with Range support,
// logs each request, and can be told to drop the connection after N bytes of one path.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

export interface StaticServer {
  url: string;
  port: number;
  requests: { path: string; range: string | undefined; status: number }[];
  /** the next response for a path ending in `suffix` stops (socket destroyed) after `bytes` bytes */
  cutAfter(suffix: string, bytes: number, onCut?: () => void): void;
  close(): Promise<void>;
}

export async function serveDir(root: string, port = 0): Promise<StaticServer> {
  const requests: StaticServer['requests'] = [];
  let cut: { suffix: string; bytes: number; onCut?: () => void } | undefined;
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = join(root, normalize(path).replace(/^(\.\.[/\\])+/, ''));
    const s = await stat(file).catch(() => null);
    const entry = { path, range: req.headers.range, status: 404 };
    requests.push(entry);
    if (!s?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    let start = 0;
    let end = s.size - 1;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m) {
      start = Number(m[1]);
      if (m[2]) end = Number(m[2]);
      if (start >= s.size) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${s.size}` }).end();
        return;
      }
      entry.status = 206;
      res.writeHead(206, {
        'content-range': `bytes ${start}-${end}/${s.size}`,
        'content-length': end - start + 1,
        'accept-ranges': 'bytes',
      });
    } else {
      entry.status = 200;
      res.writeHead(200, { 'content-length': s.size, 'accept-ranges': 'bytes' });
    }
    const c = cut && path.endsWith(cut.suffix) ? cut : undefined;
    if (c) {
      cut = undefined;
      const stream = createReadStream(file, { start, end: Math.min(end, start + c.bytes - 1) });
      stream.pipe(res, { end: false });
      // let what was sent reach the client, then drop the connection mid-body like a crashed server
      stream.on('end', () =>
        setTimeout(() => {
          res.socket?.destroy();
          c.onCut?.();
        }, 50),
      );
      return;
    }
    createReadStream(file, { start, end }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    requests,
    cutAfter(suffix, bytes, onCut) {
      cut = { suffix, bytes, ...(onCut ? { onCut } : {}) };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
