// The bundle reader (docs/release-bundles.md). One pass over the tar: the archive is checked entry
// by entry (names, types, duplicates, sizes, truncation, trailing data); the TUF metadata and
// release.json, which come first, are verified through the root chain before any blob is read;
// then each blob's size and digest are checked while it streams (into the BlobStore when one is
// given).
import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { DrydockError } from '../../core/index.ts';
import type { BlobStore } from '../blobstore/index.ts';
import { readTarStream, type TarEntry } from '../oci/index.ts';
import { parseRelease, type Release, releaseBlobs } from '../release/index.ts';
import { loadTrustedRoot, verifyRootChain, verifyTarget, verifyTopLevel } from '../tuf/index.ts';
import {
  BLOB_ENTRY,
  type DeltaInfo,
  MARKER,
  MARKER_NAME,
  META_ENTRY,
  RELEASE_NAME,
  RELEASE_TARGET,
  ROOT_ENTRY,
} from './format.ts';

export interface BundleLimits {
  /** each metadata file and release.json */
  maxMetadataBytes: number;
  /**
   * all of what comes before release.json together (roots, metadata, release.json): it is read into
   * memory before any signature could be checked, so junk there must not cost more than this
   */
  maxHeadBytes: number;
  /** root versions a bundle may carry */
  maxRoots: number;
  maxBlobBytes: number;
  maxBundleBytes: number;
  maxEntries: number;
}

export const DEFAULT_LIMITS: BundleLimits = {
  maxMetadataBytes: 4 << 20,
  maxHeadBytes: 16 << 20,
  maxRoots: 256,
  maxBlobBytes: 64 * 2 ** 30,
  maxBundleBytes: 256 * 2 ** 30,
  maxEntries: 100_000,
};

export interface ReadProgress {
  step: 'verify';
  done: number;
  total: number;
}

export interface ReadOptions {
  /** the root.json the reader trusts: a path, its bytes or its parsed JSON */
  trustedRoot: unknown;
  /** null: only hash (nothing is written); a store: keep each verified blob */
  blobs: BlobStore | null;
  now?: Date;
  limits?: Partial<BundleLimits>;
  onProgress?: (p: ReadProgress) => void;
}

export interface ReadResult {
  release: Release;
  /** root versions newer than the trusted one that the bundle carried (verified), to persist */
  roots: unknown[];
  /** blobs a delta left out (already on the box, or unchecked when blobs is null) */
  omitted: string[];
  /** blobs read from the bundle and verified */
  verified: number;
  /** bytes of the archive read (all of it, unless a head-only read stopped early) */
  bytes: number;
}

function checkName(e: TarEntry): string {
  const { name, type, flag } = e.header;
  if (name.startsWith('/') || name.includes('\\') || name.includes('\0') || name.split('/').includes('..'))
    throw new DrydockError('BUNDLE_UNSAFE_ENTRY', `entry "${name}" points outside the bundle`);
  if (type !== 'file')
    throw new DrydockError(
      'BUNDLE_UNSAFE_ENTRY',
      `entry "${name}" is a ${type === 'other' ? `tar type "${flag}"` : type}; a bundle holds regular files only`,
    );
  return name;
}

async function readSmall(e: TarEntry, max: number): Promise<Buffer> {
  if (e.header.size > max)
    throw new DrydockError(
      'BUNDLE_TOO_LARGE',
      `${e.header.name} has ${e.header.size} bytes, more than ${max} allowed`,
    );
  const parts: Buffer[] = [];
  // copied: the reader may reuse its read buffer for the next chunk
  for await (const c of e.body) parts.push(Buffer.from(c));
  return Buffer.concat(parts, e.header.size);
}

interface Head {
  release: Release;
  roots: unknown[];
  delta: DeltaInfo | undefined;
}

/** Verifies collected metadata + release.json bytes; nothing but memory has been touched. */
async function verifyHead(
  files: Map<string, Buffer>,
  roots: { label: string; bytes: Buffer; version: number }[],
  releaseBytes: Buffer,
  trustedRoot: unknown,
  now: Date,
): Promise<Head> {
  const trusted = await loadTrustedRoot(trustedRoot);
  const chain = verifyRootChain(trusted, roots, now);
  const need = (role: string) => {
    const b = files.get(role);
    if (!b) throw new DrydockError('METADATA_INVALID', `the bundle carries no metadata/${role}.json`);
    return b;
  };
  const top = verifyTopLevel(
    chain.root,
    { timestamp: need('timestamp'), snapshot: need('snapshot'), targets: need('targets') },
    now,
  );
  const target = verifyTarget(top.targets, RELEASE_TARGET, releaseBytes);
  let doc: unknown;
  try {
    doc = JSON.parse(releaseBytes.toString('utf8'));
  } catch {
    throw new DrydockError('BUNDLE_RELEASE_INVALID', 'release.json is not JSON');
  }
  const release = parseRelease(doc);
  const custom = target.custom as { delta?: DeltaInfo };
  let delta: DeltaInfo | undefined;
  if (custom?.delta !== undefined) {
    const d = custom.delta;
    const digests = new Set(releaseBlobs(release).map((b) => b.digest));
    if (typeof d?.from !== 'string' || !Array.isArray(d.omitted) || !d.omitted.every((x) => digests.has(x)))
      throw new DrydockError(
        'BUNDLE_RELEASE_INVALID',
        'the signed delta information does not match release.json',
      );
    delta = d;
  }
  return { release, roots: chain.accepted.map((b) => JSON.parse(b.toString('utf8'))), delta };
}

const CHUNK = 1 << 20;

/**
 * The bundle's bytes in 1 MiB chunks. With `reuse`, one buffer is read into again and again: only
 * safe when every consumer is done with a chunk before asking for the next (hashing is; a BlobStore
 * writer, which queues writes, is not). It keeps verify's memory flat and its garbage at zero.
 */
async function* fileChunks(fh: FileHandle, reuse: boolean): AsyncGenerator<Buffer> {
  const shared = Buffer.allocUnsafeSlow(CHUNK);
  let pos = 0;
  for (;;) {
    const buf = reuse ? shared : Buffer.allocUnsafe(CHUNK);
    const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
    if (bytesRead === 0) return;
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

async function openSource(path: string): Promise<{ size: number; fh: FileHandle }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    throw new DrydockError('NOT_FOUND', `${path} cannot be opened`);
  }
  const s = await fh.stat();
  if (!s.isFile()) {
    await fh.close();
    throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${path} is not a file`);
  }
  return { size: s.size, fh };
}

/** Reads and verifies a bundle; see ReadOptions. On failure, blobs this call stored are removed again. */
export async function readBundle(path: string, opts: ReadOptions): Promise<ReadResult> {
  return read(path, opts, false);
}

/** Only the verified head (metadata + release.json): what --delta-from and publishing need first. */
export async function readBundleHead(
  path: string,
  opts: Omit<ReadOptions, 'blobs' | 'onProgress'>,
): Promise<{ release: Release; roots: unknown[]; delta: DeltaInfo | undefined }> {
  const r = await read(path, { ...opts, blobs: null }, true);
  return { release: r.release, roots: r.roots, delta: r.delta };
}

async function read(
  path: string,
  opts: ReadOptions,
  headOnly: boolean,
): Promise<ReadResult & { delta: DeltaInfo | undefined }> {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const now = opts.now ?? new Date();
  const src = await openSource(path);
  if (src.size > limits.maxBundleBytes)
    throw new DrydockError(
      'BUNDLE_TOO_LARGE',
      `${path} has ${src.size} bytes, more than ${limits.maxBundleBytes} allowed`,
    );
  const store = opts.blobs;
  const added: string[] = [];
  // progress counts the archive's bytes as read, so it ends at exactly the file's size
  let read = 0;
  const chunks = fileChunks(src.fh, store === null);
  const stream = (async function* () {
    for await (const c of chunks) {
      yield c;
      read += c.length;
      opts.onProgress?.({ step: 'verify', done: read, total: src.size });
    }
  })();
  try {
    const seen = new Set<string>();
    const files = new Map<string, Buffer>();
    const roots: { label: string; bytes: Buffer; version: number }[] = [];
    let head: Head | undefined;
    let headBytes = 0;
    let expected = new Map<string, number>();
    let verified = 0;
    let index = 0;
    const entries = readTarStream(stream);
    for await (const e of entries) {
      const name = checkName(e);
      if (++index > limits.maxEntries)
        throw new DrydockError('BUNDLE_TOO_LARGE', `more than ${limits.maxEntries} entries`);
      if (seen.has(name)) throw new DrydockError('BUNDLE_DUPLICATE_ENTRY', `entry "${name}" appears twice`);
      seen.add(name);
      if (index === 1) {
        if (name !== MARKER_NAME)
          throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${path} is a tar, but not a Drydock bundle`);
        let m: { format?: unknown; formatVersion?: unknown } | null = null;
        try {
          m = JSON.parse((await readSmall(e, 4096)).toString('utf8'));
        } catch {
          /* reported below */
        }
        if (m?.format !== MARKER.format || m.formatVersion !== MARKER.formatVersion)
          throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${path} has an unsupported bundle format`);
        continue;
      }
      const blob = BLOB_ENTRY.exec(name);
      if (!head) {
        headBytes += e.header.size;
        if (headBytes > limits.maxHeadBytes)
          throw new DrydockError(
            'BUNDLE_TOO_LARGE',
            `the metadata before release.json passed ${limits.maxHeadBytes} bytes (at "${name}"); a bundle's signatures are small`,
          );
        const root = ROOT_ENTRY.exec(name);
        if (root && roots.length >= limits.maxRoots)
          throw new DrydockError(
            'BUNDLE_TOO_LARGE',
            `the bundle carries more than ${limits.maxRoots} root versions`,
          );
        const meta = META_ENTRY.exec(name);
        if (root)
          roots.push({
            label: name,
            version: Number(root[1]),
            bytes: await readSmall(e, limits.maxMetadataBytes),
          });
        else if (meta) files.set(meta[1]!, await readSmall(e, limits.maxMetadataBytes));
        else if (name === RELEASE_NAME) {
          const releaseBytes = await readSmall(e, limits.maxMetadataBytes);
          head = await verifyHead(files, roots, releaseBytes, opts.trustedRoot, now);
          expected = new Map(releaseBlobs(head.release).map((b) => [b.digest, b.size]));
          if (headOnly) break;
        } else if (blob)
          throw new DrydockError(
            'BUNDLE_NOT_A_BUNDLE',
            `blob ${name} comes before release.json and its signatures`,
          );
        else throw new DrydockError('BUNDLE_UNSAFE_ENTRY', `entry "${name}" is not part of a bundle`);
        continue;
      }
      if (!blob)
        throw new DrydockError(
          'BUNDLE_UNSAFE_ENTRY',
          `entry "${name}" is not part of a bundle (or out of order)`,
        );
      const digest = `sha256:${blob[1]}`;
      const size = expected.get(digest);
      if (size === undefined)
        throw new DrydockError(
          'BLOB_UNEXPECTED',
          `blob ${digest} is not part of release ${head.release.version}`,
        );
      if (e.header.size !== size)
        throw new DrydockError(
          'BLOB_SIZE_MISMATCH',
          `blob ${digest} has ${e.header.size} bytes in the bundle, ${size} declared by release.json`,
        );
      if (size > limits.maxBlobBytes)
        throw new DrydockError('BUNDLE_TOO_LARGE', `blob ${digest} exceeds the size limit`);
      if (store && !(await store.has(digest, size))) {
        await store.put(digest, size, e.body);
        added.push(digest);
      } else {
        const h = createHash('sha256');
        for await (const c of e.body) h.update(c);
        const got = `sha256:${h.digest('hex')}`;
        if (got !== digest) throw new DrydockError('BLOB_DIGEST_MISMATCH', `blob ${digest} hashes to ${got}`);
      }
      verified++;
    }
    if (!head) throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${path} holds no release.json`);
    if (headOnly)
      return {
        release: head.release,
        roots: head.roots,
        omitted: [],
        verified: 0,
        bytes: read,
        delta: head.delta,
      };

    // every blob the release needs is now either verified here, or a delta's and already on the box
    const omitted: string[] = [];
    const allowed = new Set(head.delta?.omitted ?? []);
    for (const [digest, size] of expected) {
      if (seen.has(`blobs/sha256/${digest.slice(7)}`)) continue;
      if (!allowed.has(digest))
        throw new DrydockError('BLOB_MISSING', `blob ${digest} is missing from the bundle`);
      if (store && !(await store.has(digest, size)))
        throw new DrydockError(
          'BLOB_MISSING',
          `blob ${digest} is left out of this delta (from ${head.delta!.from}) and the box does not hold it`,
        );
      omitted.push(digest);
    }
    return { release: head.release, roots: head.roots, omitted, verified, bytes: read, delta: head.delta };
  } catch (e) {
    for (const d of added) await store!.remove(d).catch(() => {});
    throw e;
  } finally {
    await src.fh.close();
  }
}
