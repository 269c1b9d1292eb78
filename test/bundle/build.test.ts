// Building bundles: round trip through the reader, deltas, OCI archives as input, interop with GNU
// tar, and the CLI (exit codes, one-line results, nothing written by verify).
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../updater/blobstore/index.ts';
import { buildBundle, readBundle } from '../../updater/bundle/index.ts';
import { releaseBlobs } from '../../updater/release/index.ts';
import { initKeys } from '../../updater/tuf/index.ts';
import { writeRelease } from './fixtures.ts';
import { unpack } from './tarkit.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'drydock.js');
async function drydock(args: string[], cwd: string) {
  try {
    const r = await run(process.execPath, [CLI, ...args], { cwd });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

let dir: string;
let keys: string;
let spec1: string;
let spec2: string;
let b1: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'build-'));
  keys = join(dir, 'keys');
  await initKeys({ dir: keys });
  spec1 = await writeRelease(join(dir, 'r1'), { version: '1.0.0', webLayer: randomBytes(50_000) });
  spec2 = await writeRelease(join(dir, 'r2'), {
    version: '1.1.0',
    webLayer: randomBytes(60_000),
    upgradeFrom: '>=1.0.0',
  });
  b1 = join(dir, 'r1.drydock');
  await buildBundle({ specPath: spec1, keysDir: keys, outPath: b1 });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('buildBundle', () => {
  it('writes metadata and release.json before the blobs, and the reader stores every blob verified', async () => {
    const names = (await unpack(b1)).map((e) => e.name);
    expect(names.slice(0, 5)).toEqual([
      'drydock-bundle.json',
      'metadata/timestamp.json',
      'metadata/snapshot.json',
      'metadata/targets.json',
      'release.json',
    ]);
    const store = await new BlobStore(join(dir, 'store-rt')).open();
    const r = await readBundle(b1, { trustedRoot: join(keys, 'root.json'), blobs: store });
    expect(r.release.images.map((i) => i.ref)).toEqual(['demo.local/base:1', 'demo.local/web:1.0.0']);
    const blobs = releaseBlobs(r.release);
    expect(names.filter((n) => n.startsWith('blobs/'))).toHaveLength(blobs.length);
    for (const b of blobs) expect(await store.verify(b.digest)).toBe(true);
  });

  it('GNU tar reads the bundle and every blob it extracts matches its name', async () => {
    const out = join(dir, 'gnu');
    await mkdir(out);
    await run('tar', ['-xf', b1, '-C', out]);
    const hexes = await readdir(join(out, 'blobs', 'sha256'));
    expect(hexes.length).toBeGreaterThan(3);
    for (const h of hexes)
      expect(
        createHash('sha256')
          .update(await readFile(join(out, 'blobs', 'sha256', h)))
          .digest('hex'),
      ).toBe(h);
  });

  it('a delta leaves out exactly the blobs of the older release', async () => {
    const out = join(dir, 'delta.drydock');
    const full = join(dir, 'full2.drydock');
    const d = await buildBundle({ specPath: spec2, keysDir: keys, outPath: out, deltaFrom: b1 });
    const f = await buildBundle({ specPath: spec2, keysDir: keys, outPath: full });
    // shared: base layer + base image (manifest, config); new: web layer, web manifest/config, manifest yaml
    expect(d.skippedBlobs).toBe(3);
    expect(d.blobs + d.skippedBlobs).toBe(f.blobs);
    expect(d.bytes).toBeLessThan(f.bytes);
    const inDelta = (await unpack(out))
      .filter((e) => e.name.startsWith('blobs/'))
      .map((e) => `sha256:${e.name.slice(13)}`);
    const old = new Set(
      releaseBlobs((await readBundle(b1, { trustedRoot: join(keys, 'root.json'), blobs: null })).release).map(
        (b) => b.digest,
      ),
    );
    for (const dgst of inDelta) expect(old.has(dgst)).toBe(false);
  });

  it('takes an image layout as a tar archive (as skopeo oci-archive writes it)', async () => {
    const rel = join(dir, 'r3');
    await writeRelease(rel, { version: '1.0.1', webLayer: randomBytes(1000) });
    await run('tar', ['-cf', join(rel, 'images', 'oci.tar'), '-C', join(rel, 'images', 'oci'), '.']);
    const specPath = join(rel, 'release.yaml');
    await writeFile(
      specPath,
      (await readFile(specPath, 'utf8')).replaceAll('layout: images/oci', 'layout: images/oci.tar'),
    );
    await rm(join(rel, 'images', 'oci'), { recursive: true });
    const out = join(dir, 'r3.drydock');
    const r = await buildBundle({ specPath, keysDir: keys, outPath: out });
    expect(r.release.images).toHaveLength(2);
    await readBundle(out, { trustedRoot: join(keys, 'root.json'), blobs: null });
  });

  it('a layer that does not match its digest fails the build and leaves no output', async () => {
    const rel = join(dir, 'r4');
    await writeRelease(rel, { version: '1.0.2', webLayer: Buffer.from('web layer of 1.0.2') });
    const blobsDir = join(rel, 'images', 'oci', 'blobs', 'sha256');
    const hex = createHash('sha256').update('web layer of 1.0.2').digest('hex');
    await writeFile(join(blobsDir, hex), 'web layer of 1.0.3'); // same size, other bytes
    const out = join(dir, 'out4', 'r4.drydock');
    await mkdir(join(dir, 'out4'));
    await expect(
      buildBundle({ specPath: join(rel, 'release.yaml'), keysDir: keys, outPath: out }),
    ).rejects.toMatchObject({
      code: 'IMAGE_INVALID',
    });
    expect(await readdir(join(dir, 'out4'))).toEqual([]);
  });

  it('refuses to build without the keys', async () => {
    await expect(
      buildBundle({ specPath: spec1, keysDir: join(dir, 'nokeys'), outPath: join(dir, 'x.drydock') }),
    ).rejects.toMatchObject({
      code: 'KEYS_MISSING',
    });
  });
});

describe('CLI', () => {
  it('keys init, release build, release verify: exit 0 and a one-line summary', async () => {
    const cwd = await mkdtemp(join(dir, 'cli-'));
    const k = await drydock(['keys', 'init', '--dir', 'k', '--threshold', '2', '--unencrypted'], cwd);
    expect(k.code).toBe(0);
    expect((await stat(join(cwd, 'k', 'private'))).mode & 0o777).toBe(0o700);
    for (const f of await readdir(join(cwd, 'k', 'private')))
      expect((await stat(join(cwd, 'k', 'private', f))).mode & 0o777).toBe(0o600);
    const b = await drydock(
      ['release', 'build', '--spec', spec1, '--keys', 'k', '--out', 'a.drydock', '--json'],
      cwd,
    );
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout.trim().split('\n').at(-1)!)).toMatchObject({ ok: true, version: '1.0.0' });
    const v = await drydock(['release', 'verify', 'a.drydock', '--root', 'k/root.json'], cwd);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^OK drydock-demo 1\.0\.0 \(stable\): \d+ blobs verified\n$/);
  });

  it('verify of a bad bundle: exit 1, "drydock: CODE: reason" on one line, and nothing written', async () => {
    const cwd = await mkdtemp(join(dir, 'cli-'));
    const bad = join(dir, 'bad.drydock');
    const good = await readFile(b1);
    await writeFile(bad, good.subarray(0, good.length - 5000));
    const before = await readdir(cwd);
    const v = await drydock(['release', 'verify', bad, '--root', join(keys, 'root.json')], cwd);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^drydock: BUNDLE_TRUNCATED: [^\n]+\n$/);
    expect(await readdir(cwd)).toEqual(before);
  });
});

describe('online images', () => {
  it('an image without a layout is copied with skopeo into a temp layout, which is removed afterwards', async () => {
    const rel = join(dir, 'online');
    const specPath = await writeRelease(rel, { version: '2.0.0' });
    await writeFile(
      specPath,
      (await readFile(specPath, 'utf8')).replace(
        '  - ref: demo.local/base:1\n    layout: images/oci\n    tag: base\n',
        '  - ref: docker.io/library/busybox:1.36\n',
      ),
    );
    const calls: string[][] = [];
    let dest = '';
    // stands in for skopeo (no registry here): writes what `skopeo copy … oci:DIR:image` would
    const exec = async (cmd: string, args: string[]) => {
      calls.push([cmd, ...args]);
      dest = args
        .at(-1)!
        .replace(/^oci:/, '')
        .replace(/:image$/, '');
      const { writeLayout } = await import('./fixtures.ts');
      await writeLayout(dest, [{ tag: 'image', layers: [Buffer.from('busybox from a registry')] }]);
      return { code: 0, stdout: '', stderr: '' };
    };
    const r = await buildBundle({ specPath, keysDir: keys, outPath: join(dir, 'online.drydock'), exec });
    expect(calls[0]!.slice(0, 2)).toEqual(['skopeo', 'copy']);
    expect(calls[0]).toContain('docker://docker.io/library/busybox:1.36');
    expect(r.release.images.map((i) => i.ref)).toContain('docker.io/library/busybox:1.36');
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
