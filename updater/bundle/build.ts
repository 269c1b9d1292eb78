// release build: spec → release.json + TUF metadata + blobs, written as one tar. Blobs stream from
// their sources straight into the output (hashed on the way, so a source that changed is caught);
// the output appears under its name only when complete.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DrydockError, type Exec, exec, mustSucceed } from '../../core/index.ts';
import { END_OF_ARCHIVE, fileHeader, openLayout, padding, resolveImage } from '../oci/index.ts';
import {
  type BlobRef,
  canonicalJson,
  type Hook,
  parseRelease,
  type Release,
  releaseBlobs,
} from '../release/index.ts';
import {
  expiresIn,
  type KeyAccess,
  loadKeySet,
  newSnapshot,
  newTargets,
  newTimestamp,
  serialize,
  sha256Hex,
} from '../tuf/index.ts';
import {
  blobName,
  type DeltaInfo,
  MARKER,
  MARKER_NAME,
  metadataName,
  RELEASE_NAME,
  RELEASE_TARGET,
  rootName,
} from './format.ts';
import { readBundleHead } from './read.ts';
import { type HookFile, parseSpec } from './spec.ts';

export interface BuildProgress {
  step: 'blobs';
  done: number;
  total: number;
}

export interface BuildOptions {
  specPath: string;
  keysDir: string;
  /** passphrase / external signer for the keys (drydock keys init encrypts them) */
  keyAccess?: KeyAccess;
  outPath: string;
  /** an older bundle of the same product: blobs of its release are left out */
  deltaFrom?: string;
  now?: Date;
  /** how long the bundle's targets/snapshot/timestamp stay valid */
  expiresDays?: number;
  onProgress?: (p: BuildProgress) => void;
  /** runs skopeo for images given only by registry reference; throws when it fails (default: core's exec, must succeed) */
  exec?: Exec;
}

export interface BuildResult {
  release: Release;
  bytes: number;
  blobs: number;
  skippedBlobs: number;
}

/** a blob's bytes: `size` bytes of `path` from `offset` */
type Source = BlobRef & { path: string; offset: number };

const MAX_TEXT = 4 << 20;

async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** A YAML file that must parse (manifests, hook jobs): read whole, it is small. */
async function yamlBlob(path: string, at: string): Promise<Source> {
  const s = await stat(path);
  if (s.size > MAX_TEXT)
    throw new DrydockError('SPEC_INVALID', `${at}: ${basename(path)} is larger than 4 MiB`);
  const data = await readFile(path);
  for (const d of parseAllDocuments(data.toString('utf8')) as { errors?: { message: string }[] }[])
    if (d.errors?.length)
      throw new DrydockError(
        'SPEC_INVALID',
        `${at}: ${basename(path)} is not valid YAML: ${d.errors[0]!.message.split('\n')[0]}`,
      );
  return {
    digest: `sha256:${sha256Hex(data)}`,
    size: data.length,
    mediaType: 'application/yaml',
    path,
    offset: 0,
  };
}

const defaultExec = mustSucceed(exec);

export async function buildBundle(opts: BuildOptions): Promise<BuildResult> {
  const now = opts.now ?? new Date();
  const spec = await parseSpec(opts.specPath);
  const keys = await loadKeySet(opts.keysDir, opts.keyAccess);
  const sources = new Map<string, Source>();
  const add = (s: Source) => {
    if (!sources.has(s.digest)) sources.set(s.digest, s);
    const { path: _p, offset: _o, ...ref } = s;
    return ref;
  };
  const cleanups: string[] = [];
  try {
    const images: Release['images'] = [];
    for (const img of spec.images) {
      let layoutPath = img.layout;
      let tag = img.tag;
      if (!layoutPath) {
        // online build: copy the image from its registry into a temporary layout first
        const tmp = await mkdtemp(join(tmpdir(), 'drydock-pull-'));
        cleanups.push(tmp);
        const [os, arch] = img.platform.split('/');
        await (opts.exec ?? defaultExec)('skopeo', [
          'copy',
          `--override-os=${os}`,
          `--override-arch=${arch}`,
          `docker://${img.ref}`,
          `oci:${tmp}:image`,
        ]);
        layoutPath = tmp;
        tag = 'image';
      }
      const layout = await openLayout(layoutPath);
      const r = await resolveImage(layout, { ...(tag ? { tag } : {}), platform: img.platform }).catch((e) => {
        throw e instanceof DrydockError ? new DrydockError(e.code, `${img.at}: ${e.message}`) : e;
      });
      const from = async (b: BlobRef): Promise<Source> => {
        const at = await layout.locate(b.digest);
        return { ...b, path: at.path, offset: at.offset };
      };
      images.push({
        ref: img.ref,
        platform: r.platform,
        manifest: add(await from(r.manifest)),
        config: add(await from(r.config)),
        layers: await Promise.all(r.layers.map(async (l) => add(await from(l)))),
      });
    }
    const manifests: Release['manifests'] = [];
    for (const m of spec.manifests) manifests.push({ name: m.name, blob: add(await yamlBlob(m.path, m.at)) });
    const hook = async (h: HookFile): Promise<Hook> => ({
      name: h.name,
      job: add(await yamlBlob(h.path, h.at)),
      timeoutSeconds: h.timeoutSeconds ?? 600,
    });
    const hooks: NonNullable<Release['hooks']> = {};
    if (spec.hooks.backup) hooks.backup = await hook(spec.hooks.backup);
    if (spec.hooks.restore) hooks.restore = await hook(spec.hooks.restore);
    if (spec.hooks.preApply.length) hooks.preApply = await Promise.all(spec.hooks.preApply.map(hook));
    if (spec.hooks.postApply.length) hooks.postApply = await Promise.all(spec.hooks.postApply.map(hook));
    let k3s: Release['k3s'];
    if (spec.k3s) {
      const path = spec.k3s.path;
      const h = await hashFile(path);
      k3s = {
        version: spec.k3s.version,
        binary: add({ ...h, mediaType: 'application/octet-stream', path, offset: 0 }),
      };
    }
    const s = spec.spec;
    const draft = {
      schemaVersion: 1 as const,
      name: s.name,
      version: s.version,
      channel: s.channel,
      upgradeFrom: s.upgradeFrom,
      createdAt: now.toISOString(),
      ...(k3s ? { k3s } : {}),
      images,
      manifests,
      health: s.health,
      ...(Object.keys(hooks).length ? { hooks } : {}),
      ...(s.data ? { data: s.data } : {}),
      ...(s.waves ? { waves: s.waves } : {}),
      notes: spec.notes,
    };
    let release: Release;
    try {
      release = parseRelease(draft);
    } catch (e) {
      throw new DrydockError('SPEC_INVALID', `${opts.specPath}: ${(e as Error).message}`);
    }
    const releaseBytes = Buffer.from(canonicalJson(release));

    // a delta leaves out what the older release already put on the box
    let delta: DeltaInfo | undefined;
    const all = releaseBlobs(release);
    let included = all;
    if (opts.deltaFrom) {
      const old = await readBundleHead(opts.deltaFrom, { trustedRoot: keys.roots[0]!.bytes, now });
      if (old.release.name !== release.name)
        throw new DrydockError(
          'USAGE',
          `--delta-from is a bundle of ${old.release.name}, not ${release.name}`,
        );
      const have = new Set(releaseBlobs(old.release).map((b) => b.digest));
      included = all.filter((b) => !have.has(b.digest));
      delta = {
        from: old.release.version,
        omitted: all.filter((b) => have.has(b.digest)).map((b) => b.digest),
      };
    }

    // TUF metadata: versions from the clock, so a later build always carries higher versions
    const version = Math.max(1, Math.floor(now.getTime() / 1000));
    const expires = expiresIn(now, opts.expiresDays ?? 365);
    const targets = newTargets(version, expires, {
      [RELEASE_TARGET]: {
        length: releaseBytes.length,
        sha256: sha256Hex(releaseBytes),
        custom: { name: release.name, version: release.version, ...(delta ? { delta } : {}) },
      },
    });
    keys.sign('targets', targets);
    const targetsBytes = serialize(targets);
    const snapshot = newSnapshot(version, expires, targetsBytes, version);
    keys.sign('snapshot', snapshot);
    const snapshotBytes = serialize(snapshot);
    const timestamp = newTimestamp(version, expires, snapshotBytes, version);
    keys.sign('timestamp', timestamp);

    const head: [string, Buffer][] = [[MARKER_NAME, Buffer.from(canonicalJson(MARKER))]];
    // every root after the first, so a box holding any older root can walk the chain
    for (const r of keys.roots) if (r.version > 1) head.push([rootName(r.version), r.bytes]);
    head.push([metadataName('timestamp'), serialize(timestamp)]);
    head.push([metadataName('snapshot'), snapshotBytes]);
    head.push([metadataName('targets'), targetsBytes]);
    head.push([RELEASE_NAME, releaseBytes]);

    const bytes = await writeTar(
      opts.outPath,
      head,
      included.map((b) => sources.get(b.digest)!),
      now,
      opts.onProgress,
    );
    return { release, bytes, blobs: included.length, skippedBlobs: all.length - included.length };
  } finally {
    for (const d of cleanups) await rm(d, { recursive: true, force: true });
  }
}

async function writeTar(
  outPath: string,
  head: [string, Buffer][],
  blobs: Source[],
  now: Date,
  onProgress?: (p: BuildProgress) => void,
): Promise<number> {
  const tmp = join(dirname(outPath), `.${basename(outPath)}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  const mtime = Math.floor(now.getTime() / 1000);
  let pos = 0;
  const put = async (b: Buffer) => {
    let off = 0;
    while (off < b.length) {
      const { bytesWritten } = await fh.write(b, off, b.length - off, pos);
      off += bytesWritten;
      pos += bytesWritten;
    }
  };
  const total = blobs.reduce((n, b) => n + b.size, 0);
  let done = 0;
  try {
    for (const [name, data] of head) {
      await put(fileHeader(name, data.length, { mtime }));
      await put(data);
      await put(Buffer.alloc(padding(data.length)));
    }
    // one buffer, read into and written out again: build memory does not depend on blob sizes
    const buf = Buffer.allocUnsafeSlow(1 << 20);
    for (const b of blobs) {
      await put(fileHeader(blobName(b.digest.slice(7)), b.size, { mtime }));
      const h = createHash('sha256');
      const src = await open(b.path, 'r');
      try {
        let n = 0;
        while (n < b.size) {
          const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, b.size - n), b.offset + n);
          if (bytesRead === 0) break;
          const chunk = buf.subarray(0, bytesRead);
          h.update(chunk);
          await put(chunk);
          n += bytesRead;
          done += bytesRead;
          onProgress?.({ step: 'blobs', done, total });
        }
        if (n !== b.size || `sha256:${h.digest('hex')}` !== b.digest)
          throw new DrydockError(
            'IMAGE_INVALID',
            `blob ${b.digest} changed or is corrupt at its source (${n} bytes read)`,
          );
      } finally {
        await src.close();
      }
      await put(Buffer.alloc(padding(b.size)));
    }
    await put(END_OF_ARCHIVE);
    await fh.sync();
    await fh.close();
    await rename(tmp, outPath);
    return pos;
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}
