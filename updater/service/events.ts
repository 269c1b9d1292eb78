// Server-Sent Events: one subscription to the box, fanned out to every connected client. A client
// that (re)connects first gets a "snapshot" event with the current status, then every state step
// and progress event, and a comment line as heartbeat so proxies and browsers keep the stream.
import type { ServerResponse } from 'node:http';
import type { Box, BoxStatus, UpdateEvent } from '../engine/api.ts';

interface Client {
  res: ServerResponse;
  sessionIdHash: string;
}

export class EventHub {
  private readonly clients = new Set<Client>();
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout;
  private seq = 0;

  constructor(
    box: Box,
    heartbeatMs: number,
    private readonly policy: { perSession: number; alive: (sessionIdHash: string) => boolean } = {
      perSession: Number.POSITIVE_INFINITY,
      alive: () => true,
    },
  ) {
    this.unsubscribe = box.subscribe((e) => this.broadcast(e));
    this.timer = setInterval(() => this.heartbeat(), heartbeatMs);
    this.timer.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a raw response: headers, the snapshot, then live events until either side closes. */
  attach(
    res: ServerResponse,
    headers: Record<string, string | number | string[]>,
    sessionIdHash: string,
    snapshot: BoxStatus,
  ): void {
    // a session has a few streams at most: the oldest gives way (a reloaded page leaves its old one)
    const own = [...this.clients].filter((c) => c.sessionIdHash === sessionIdHash);
    for (const c of own.slice(0, Math.max(0, own.length - this.policy.perSession + 1))) {
      this.clients.delete(c);
      c.res.end();
    }
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const client = { res, sessionIdHash };
    // the whole status first, then the same as the state/progress events a live client would have
    // seen, so a client that only listens for those still starts from the current state
    const at = new Date().toISOString();
    this.send(client, 'snapshot', { type: 'snapshot', status: snapshot, at });
    this.send(client, 'state', {
      type: 'state',
      state: snapshot.state,
      target: snapshot.target,
      ...(snapshot.lastError ? { reason: snapshot.lastError.message } : {}),
      at,
    });
    if (snapshot.progress) this.send(client, 'progress', { type: 'progress', ...snapshot.progress, at });
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
  }

  /** Ends the streams of a session that signed out or expired. */
  endSession(sessionIdHash: string): void {
    for (const c of this.clients) if (c.sessionIdHash === sessionIdHash) c.res.end();
  }

  /** Events of the service itself (upload progress), sent like the engine's. */
  publish(e: UpdateEvent): void {
    this.broadcast(e);
  }

  private broadcast(e: UpdateEvent): void {
    for (const c of this.clients) this.send(c, e.type, e);
  }

  private send(c: Client, event: string, data: unknown): void {
    c.res.write(`id: ${++this.seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private heartbeat(): void {
    for (const c of this.clients) {
      if (!this.policy.alive(c.sessionIdHash)) {
        this.clients.delete(c);
        c.res.end();
        continue;
      }
      c.res.write(`: ping ${new Date().toISOString()}\n\n`);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}
