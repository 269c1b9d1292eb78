// A real HTTP server on 127.0.0.1 serving a channel folder (static files, Range requests), with
// switches to break a blob download off after some bytes (drop the connection, or stall it).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

export interface ChannelServer {
  url: string;
  /** every request: path and its Range header */
  requests: { path: string; range: string | null }[];
  /** bytes of blobs sent so far */
  blobBytes: number;
  /** the next blob response ends (drop) or hangs (stall) after this many bytes; null = serve normally */
  breakAfter: { bytes: number; mode: 'drop' | 'stall' | 'pause' } | null;
  /** true while a 'pause' (or 'stall') break holds a response */
  paused: boolean;
  /** lets a paused response go on */
  resume(): void;
  close(): Promise<void>;
}

export async function serveChannel(dir: string): Promise<ChannelServer> {
  const sockets = new Set<import('node:net').Socket>();
  let resumeFn: (() => void) | undefined;
  const state: ChannelServer = {
    url: '',
    requests: [],
    blobBytes: 0,
    breakAfter: null,
    paused: false,
    resume: () => {
      state.paused = false;
      resumeFn?.();
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  const server: Server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
      /^\/+/,
      '',
    );
    state.requests.push({ path, range: req.headers.range ?? null });
    const file = join(dir, path);
    const st = await stat(file).catch(() => null);
    if (!st?.isFile() || path.startsWith('..')) {
      res.writeHead(404).end();
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      start = Number(m[1]);
      if (start >= st.size) {
        res.writeHead(416).end();
        return;
      }
      res.writeHead(206, {
        'content-length': st.size - start,
        'content-range': `bytes ${start}-${st.size - 1}/${st.size}`,
      });
    } else res.writeHead(200, { 'content-length': st.size });
    const isBlob = path.startsWith('blobs/');
    // only a blob longer than the break point is broken off (small ones pass)
    const brk =
      isBlob && state.breakAfter && st.size - start > state.breakAfter.bytes ? state.breakAfter : null;
    if (brk) state.breakAfter = null;
    let sent = 0;
    for await (const chunk of createReadStream(file, { start, highWaterMark: 1024 })) {
      const c = chunk as Buffer;
      if (brk && sent + c.length > brk.bytes) {
        const part = c.subarray(0, brk.bytes - sent);
        state.blobBytes += part.length;
        // drop: once the bytes are out, cut the connection; stall: the response never ends;
        // pause: wait for resume(), then send the rest
        res.write(part, () => {
          if (brk.mode === 'drop') setTimeout(() => res.socket?.destroy(), 50);
        });
        if (brk.mode === 'stall') state.paused = true;
        if (brk.mode !== 'pause') return;
        await new Promise<void>((r) => {
          resumeFn = r;
          state.paused = true;
        });
        res.write(c.subarray(part.length));
        sent += c.length;
        continue;
      }
      res.write(c);
      sent += c.length;
      if (isBlob) state.blobBytes += c.length;
    }
    res.end();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return state;
}
