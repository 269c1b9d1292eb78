// Online updates through updater/channel's ChannelClient (tuf-js) against a real HTTP server on 127.0.0.1
// serving a channel published with the demo keys: check, download, apply, and a download that
// breaks off and resumes with a Range request.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { publishBundle } from '../../updater/channel/index.ts';
import { ACTOR, demo, manifestsMatch, newBox } from './helpers.ts';
import { type ChannelServer, serveChannel } from './server.ts';

let server: ChannelServer;
let repoDir: string;
beforeAll(async () => {
  const d = await demo();
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  repoDir = await mkdtemp(join(tmpdir(), 'drydock-channel-'));
  await mkdir(repoDir, { recursive: true });
  for (const v of ['1.0.0', '1.1.0', '1.2.0'] as const)
    await publishBundle({ bundlePath: d.bundles[v], repoDir, keysDir: d.keysDir });
  server = await serveChannel(repoDir);
});
afterAll(async () => {
  await server?.close();
  const { rm } = await import('node:fs/promises');
  await rm(repoDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('online', () => {
  test('check lists newer releases; download stages; apply commits', async () => {
    const box = await newBox({ config: { channelUrl: server.url } });
    try {
      const b = await box.open();
      const list = await b.check(ACTOR);
      expect(list.map((r) => r.version)).toEqual(['1.2.0', '1.1.0']);
      expect(list.every((r) => r.installable)).toBe(true);
      const r11 = list.find((r) => r.version === '1.1.0')!;
      expect(r11.downloadBytes).toBeGreaterThan(0);
      expect(r11.downloadBytes).toBeLessThan(r11.totalBytes); // 1.0.0 already holds the shared layers
      expect((await b.status()).state).toBe('available');
      expect((await b.status()).lastCheck?.result).toBe('ok');
      await b.download(ACTOR, '1.1.0');
      expect((await b.status()).state).toBe('staged');
      const entry = await b.apply(ACTOR);
      expect(entry.outcome).toBe('committed');
      expect(await manifestsMatch(box.root, '1.1.0')).toBe(true);
      await b.close();
    } finally {
      await box.cleanup();
    }
  });

  test('a download that breaks off keeps what arrived and resumes with a Range request', async () => {
    const box = await newBox({ config: { channelUrl: server.url } });
    try {
      const b = await box.open();
      await b.check(ACTOR);
      server.breakAfter = { bytes: 1000, mode: 'drop' };
      await expect(b.download(ACTOR, '1.1.0')).rejects.toMatchObject({ code: 'NETWORK_FAILED' });
      const s = await b.status();
      expect(s.state).toBe('failed');
      expect(s.running?.version).toBe('1.0.0');
      const partial = await readdir(join(box.root, 'var/lib/drydock/blobs/partial'));
      expect(partial.length).toBe(1);
      // closing and opening again (a restart) keeps the partial file
      await b.close();
      const b2 = await box.open();
      expect(await readdir(join(box.root, 'var/lib/drydock/blobs/partial'))).toEqual(partial);
      const before = server.requests.length;
      await b2.download(ACTOR, '1.1.0');
      const resumed = server.requests.slice(before).find((r) => r.path.endsWith(partial[0]!));
      expect(resumed?.range).toBe('bytes=1000-');
      expect((await b2.status()).state).toBe('staged');
      expect((await b2.apply(ACTOR)).outcome).toBe('committed');
      await b2.close();
    } finally {
      await box.cleanup();
    }
  });

  test('cancel stops a running download: back to idle, nothing of it kept', async () => {
    const box = await newBox({ config: { channelUrl: server.url } });
    try {
      const b = await box.open();
      await b.check(ACTOR);
      server.breakAfter = { bytes: 1000, mode: 'stall' };
      const download = b.download(ACTOR, '1.1.0').catch((e) => e);
      while (!server.paused) await new Promise((r) => setTimeout(r, 20));
      await b.cancel(ACTOR);
      expect((await download).code).toBe('UPDATE_CANCELLED');
      const s = await b.status();
      expect(s.state).toBe('idle');
      expect(s.running?.version).toBe('1.0.0');
      expect(await readdir(join(box.root, 'var/lib/drydock/blobs/partial'))).toEqual([]);
      await b.close();
    } finally {
      await box.cleanup();
    }
  });
});
