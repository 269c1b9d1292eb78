// Disk full during staging and during a download, on a real tiny tmpfs mounted over the box's
// blob store (the tests run as root): a clean DISK_FULL, the running release untouched, and the
// space given back. Free space is reported to the engine's preflight through its injectable
// statfs: truthful (preflight refuses before writing) or generous (the write itself hits ENOSPC).
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, open, readdir, rename, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { publishBundle } from '../../updater/channel/index.ts';
import type { StatFs } from '../../updater/engine/index.ts';
import { ACTOR, demo, fingerprint, manifestsMatch, newBox, type TestBox } from './helpers.ts';
import { type ChannelServer, serveChannel } from './server.ts';

const generous: StatFs = async () => ({ bavail: 1 << 20, bsize: 4096, blocks: 1 << 21 });

let box: TestBox;
let blobs: string;
let server: ChannelServer;
let repoDir: string;

async function free(): Promise<number> {
  const s = await statfs(blobs);
  return Number(s.bavail) * Number(s.bsize);
}

/** Everything but what must differ after a clean failure (the state row says "failed"). */
async function unchanged() {
  const { state: _state, ...rest } = await fingerprint(box.root);
  return rest;
}

beforeAll(async () => {
  const d = await demo();
  box = await newBox({ config: {} });
  blobs = join(box.root, 'var/lib/drydock/blobs');
  // move the store onto a 4 MiB tmpfs, then fill it up to 8 KiB
  await rename(blobs, `${blobs}.orig`);
  await mkdir(blobs);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', blobs]);
  await cp(`${blobs}.orig`, blobs, { recursive: true });
  await rm(`${blobs}.orig`, { recursive: true });
  await writeFile(join(blobs, 'filler'), Buffer.alloc((await free()) - 8192));
  repoDir = await mkdtemp(join(tmpdir(), 'drydock-channel-'));
  for (const v of ['1.0.0', '1.1.0'] as const)
    await publishBundle({ bundlePath: d.bundles[v], repoDir, keysDir: d.keysDir });
  server = await serveChannel(repoDir);
});

afterAll(async () => {
  await server?.close();
  try {
    execFileSync('umount', [blobs]);
  } catch {
    /* not mounted */
  }
  await box?.cleanup();
  await rm(repoDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('disk full', () => {
  test('preflight: not enough room for the bundle → DISK_FULL before a byte is written', async () => {
    const before = await unchanged();
    const b = await box.open();
    const err = await b.install(ACTOR, (await demo()).bundles['1.1.0']).catch((e) => e);
    await b.close();
    expect(err.code).toBe('DISK_FULL');
    expect(err.message).toMatch(/not enough free disk for staging the bundle/);
    expect(await unchanged()).toEqual(before);
  });

  test('staging runs out of space mid-write → DISK_FULL, space given back, 1.0.0 untouched', async () => {
    const before = await unchanged();
    const freeBefore = await free();
    const b = await box.open({ statfs: generous });
    const err = await b.install(ACTOR, (await demo()).bundles['1.1.0']).catch((e) => e);
    const s = await b.status();
    await b.close();
    expect(err.code, err.message).toBe('DISK_FULL');
    expect(s.state).toBe('failed');
    expect(s.lastError?.code).toBe('DISK_FULL');
    expect(s.running?.version).toBe('1.0.0');
    expect(await free()).toBe(freeBefore);
    expect(await unchanged()).toEqual(before);
    expect(await manifestsMatch(box.root, '1.0.0')).toBe(true);
  });

  test('the disk fills up during a download → DISK_FULL, partial files removed, space given back', async () => {
    // room at the start (so preflight passes), then something else fills the disk mid-download
    await rm(join(blobs, 'filler'));
    const b = await box.open();
    await b.putSettings(ACTOR, { channelUrl: server.url });
    await b.check(ACTOR);
    const before = await unchanged();
    const freeBefore = await free();
    server.breakAfter = { bytes: 1000, mode: 'pause' };
    const download = b.download(ACTOR, '1.1.0').catch((e) => e);
    for (let i = 0; !server.paused; i++) {
      if (i > 500)
        throw new Error(`the download never reached the pause: ${JSON.stringify(server.requests.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const fill = await open(join(blobs, 'filler'), 'w');
    const page = Buffer.alloc(4096, 1);
    let filled = 0;
    try {
      for (;;) filled += (await fill.write(page)).bytesWritten;
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    await fill.close();
    server.resume();
    const err = await download;
    const s = await b.status();
    await b.close();
    expect(err.code, err.message).toBe('DISK_FULL');
    expect(s.state).toBe('failed');
    expect(s.lastError?.code).toBe('DISK_FULL');
    expect(s.running?.version).toBe('1.0.0');
    expect(await readdir(join(blobs, 'partial'))).toEqual([]);
    expect(await unchanged()).toEqual(before);
    // all that is taken now is the filler: the download gave its space back
    expect(freeBefore - (await free())).toBeLessThanOrEqual(filled + 4096);
    // room again: the same download goes through and the update commits
    await rm(join(blobs, 'filler'));
    const b2 = await box.open();
    await b2.download(ACTOR, '1.1.0');
    expect((await b2.apply(ACTOR)).outcome).toBe('committed');
    await b2.close();
  });
});
