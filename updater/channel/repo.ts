// The publishing side of a channel: a static TUF repository with consistent snapshots, laid out as
// the TUF spec names files (so tuf-js and python-tuf clients read it as is):
//   metadata/<n>.root.json, metadata/root.json, metadata/<v>.targets.json, metadata/<v>.snapshot.json,
//   metadata/timestamp.json
//   targets/<channel>/<sha256>.index.json, targets/<channel>/<name>/<version>/<sha256>.release.json
//     (plus the same files without the hash prefix, for people and plain HTTP tools)
//   blobs/sha256/<hex>, bundles/<name>-<version>.drydock
// Every file is written before the timestamp that makes it reachable, and the timestamp last.
import { copyFile, mkdir, readFile, rename, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import semver from 'semver';
import { DrydockError } from '../../core/index.ts';
import { BlobStore } from '../blobstore/index.ts';
import { bundleFileName, readBundle, readBundleHead } from '../bundle/index.ts';
import { canonicalJson, type Release, releaseBlobs } from '../release/index.ts';
import {
  checkSignatures,
  expiresIn,
  type KeyAccess,
  type KeySet,
  loadKeySet,
  type Metadata,
  newSnapshot,
  newTargets,
  newTimestamp,
  parseMetadata,
  serialize,
  sha256Hex,
  type TargetEntry,
} from '../tuf/index.ts';

export interface ChannelIndexEntry {
  name: string;
  version: string;
  upgradeFrom: string;
  createdAt: string;
  /** target path of the signed release.json */
  release: string;
  /** repo-relative path of the full or delta bundle, for offline use */
  bundle: string;
  blobs: number;
  size: number;
}

export interface ChannelIndex {
  channel: string;
  releases: ChannelIndexEntry[];
}

export interface ExpiryDays {
  targets: number;
  snapshot: number;
  timestamp: number;
}
export const DEFAULT_EXPIRY: ExpiryDays = { targets: 365, snapshot: 7, timestamp: 1 };

export const indexTarget = (channel: string) => `${channel}/index.json`;
export const releaseTarget = (channel: string, name: string, version: string) =>
  `${channel}/${name}/${version}/release.json`;

/** targets/<dir>/<hash>.<base>, as a consistent-snapshot client asks for it */
export function hashedTargetPath(path: string, sha256: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? `${sha256}.${path}` : `${path.slice(0, i)}/${sha256}.${path.slice(i + 1)}`;
}

async function writeAtomic(path: string, data: Buffer | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

interface RepoState {
  timestampVersion: number;
  snapshotVersion: number;
  targets: Metadata<import('@tufjs/models').Targets> | undefined;
  targetsBytes: Buffer | undefined;
}

async function readState(repo: string): Promise<RepoState> {
  const md = join(repo, 'metadata');
  let tsBytes: Buffer;
  try {
    tsBytes = await readFile(join(md, 'timestamp.json'));
  } catch {
    return { timestampVersion: 0, snapshotVersion: 0, targets: undefined, targetsBytes: undefined };
  }
  const ts = parseMetadata('timestamp', tsBytes, 'metadata/timestamp.json');
  const sv = ts.signed.snapshotMeta.version;
  const snap = parseMetadata(
    'snapshot',
    await readFile(join(md, `${sv}.snapshot.json`)),
    `${sv}.snapshot.json`,
  );
  const tv = snap.signed.meta['targets.json']?.version;
  if (!tv) throw new DrydockError('METADATA_INVALID', `${repo}: snapshot lists no targets.json`);
  const targetsBytes = await readFile(join(md, `${tv}.targets.json`));
  return {
    timestampVersion: ts.signed.version,
    snapshotVersion: snap.signed.version,
    targets: parseMetadata('targets', targetsBytes, `${tv}.targets.json`),
    targetsBytes,
  };
}

async function withLock<T>(repo: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(repo, '.publish.lock');
  await mkdir(repo, { recursive: true });
  try {
    await mkdir(lock);
  } catch {
    throw new DrydockError('UPDATE_IN_PROGRESS', `${repo} is being published by another process (${lock})`);
  }
  try {
    return await fn();
  } finally {
    await rmdir(lock).catch(() => {});
  }
}

/** New snapshot + timestamp over the given targets file; roots are copied so clients can chain. */
async function writeTop(
  repo: string,
  keys: KeySet,
  state: RepoState,
  targetsBytes: Buffer,
  targetsVersion: number,
  now: Date,
  expiry: ExpiryDays,
): Promise<{ snapshot: number; timestamp: number }> {
  const md = join(repo, 'metadata');
  for (const r of keys.roots) await writeAtomic(join(md, `${r.version}.root.json`), r.bytes);
  await writeAtomic(join(md, 'root.json'), keys.roots[keys.roots.length - 1]!.bytes);
  const sv = state.snapshotVersion + 1;
  const snapshot = newSnapshot(sv, expiresIn(now, expiry.snapshot), targetsBytes, targetsVersion);
  keys.sign('snapshot', snapshot);
  const snapshotBytes = serialize(snapshot);
  await writeAtomic(join(md, `${sv}.snapshot.json`), snapshotBytes);
  const tv = state.timestampVersion + 1;
  const timestamp = newTimestamp(tv, expiresIn(now, expiry.timestamp), snapshotBytes, sv);
  keys.sign('timestamp', timestamp);
  await writeAtomic(join(md, 'timestamp.json'), serialize(timestamp));
  return { snapshot: sv, timestamp: tv };
}

async function writeTarget(repo: string, path: string, data: Buffer): Promise<TargetEntry> {
  const sha256 = sha256Hex(data);
  await writeAtomic(join(repo, 'targets', hashedTargetPath(path, sha256)), data);
  await writeAtomic(join(repo, 'targets', path), data);
  return { length: data.length, sha256 };
}

function entriesOf(targets: RepoState['targets']): Record<string, TargetEntry> {
  const out: Record<string, TargetEntry> = {};
  for (const [p, t] of Object.entries(targets?.signed.targets ?? {})) {
    const custom = t.custom;
    out[p] = {
      length: t.length,
      sha256: t.hashes.sha256!,
      ...(custom && Object.keys(custom).length ? { custom } : {}),
    };
  }
  return out;
}

export interface PublishOptions extends KeyAccess {
  bundlePath: string;
  repoDir: string;
  keysDir: string;
  channel?: string;
  now?: Date;
  expiry?: Partial<ExpiryDays>;
}

export async function publishBundle(
  opts: PublishOptions,
): Promise<{ release: Release; channel: string; targetsVersion: number; timestampVersion: number }> {
  const now = opts.now ?? new Date();
  const expiry = { ...DEFAULT_EXPIRY, ...opts.expiry };
  const keys = await loadKeySet(opts.keysDir, opts);
  const repo = opts.repoDir;
  return withLock(repo, async () => {
    const trustedRoot = keys.roots[0]!.bytes;
    const { release } = await readBundleHead(opts.bundlePath, { trustedRoot, now });
    const channel = opts.channel ?? release.channel;
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(channel))
      throw new DrydockError('USAGE', `channel "${channel}" must be lower-case letters, digits and dashes`);
    const state = await readState(repo);
    const targets = entriesOf(state.targets);
    const releaseBytes = Buffer.from(canonicalJson(release));
    const rPath = releaseTarget(channel, release.name, release.version);
    const existing = targets[rPath];
    if (existing && existing.sha256 !== sha256Hex(releaseBytes))
      throw new DrydockError(
        'CHANNEL_CONFLICT',
        `${release.name} ${release.version} is already published on ${channel} with different content`,
      );
    // now the whole bundle, checked like a box would (from root version 1); its blobs land in the
    // repo's store, and a delta's left-out blobs must already be there from an earlier publish
    const store = await new BlobStore(join(repo, 'blobs')).open();
    await readBundle(opts.bundlePath, { trustedRoot, blobs: store, now });

    const bundleRel = `bundles/${bundleFileName(release.name, release.version)}`;
    await mkdir(join(repo, 'bundles'), { recursive: true });
    const tmpBundle = join(repo, `${bundleRel}.tmp-${process.pid}`);
    await copyFile(opts.bundlePath, tmpBundle);
    await rename(tmpBundle, join(repo, bundleRel));
    targets[rPath] = await writeTarget(repo, rPath, releaseBytes);

    // the channel index: every release of this channel, newest last
    const iPath = indexTarget(channel);
    let index: ChannelIndex = { channel, releases: [] };
    if (targets[iPath])
      index = JSON.parse(await readFile(join(repo, 'targets', iPath), 'utf8')) as ChannelIndex;
    const blobs = releaseBlobs(release);
    index.releases = index.releases.filter(
      (r) => !(r.name === release.name && r.version === release.version),
    );
    index.releases.push({
      name: release.name,
      version: release.version,
      upgradeFrom: release.upgradeFrom,
      createdAt: release.createdAt,
      release: rPath,
      bundle: bundleRel,
      blobs: blobs.length,
      size: blobs.reduce((n, b) => n + b.size, 0),
    });
    index.releases.sort((a, b) => semver.compare(a.version, b.version));
    targets[iPath] = await writeTarget(repo, iPath, Buffer.from(canonicalJson(index)));

    const tv = (state.targets?.signed.version ?? 0) + 1;
    const md = newTargets(tv, expiresIn(now, expiry.targets), targets);
    keys.sign('targets', md);
    const targetsBytes = serialize(md);
    await writeAtomic(join(repo, 'metadata', `${tv}.targets.json`), targetsBytes);
    const top = await writeTop(repo, keys, state, targetsBytes, tv, now, expiry);
    return { release, channel, targetsVersion: tv, timestampVersion: top.timestamp };
  });
}

/**
 * Re-signs snapshot and timestamp with fresh expiry (run it from cron well before they expire);
 * targets is re-signed too when its keys were rotated or it is close to expiry.
 */
export async function refreshChannel(
  opts: {
    repoDir: string;
    keysDir: string;
    now?: Date;
    expiry?: Partial<ExpiryDays>;
  } & KeyAccess,
): Promise<{
  targetsVersion: number;
  snapshotVersion: number;
  timestampVersion: number;
  resignedTargets: boolean;
}> {
  const now = opts.now ?? new Date();
  const expiry = { ...DEFAULT_EXPIRY, ...opts.expiry };
  const keys = await loadKeySet(opts.keysDir, opts);
  return withLock(opts.repoDir, async () => {
    const state = await readState(opts.repoDir);
    if (!state.targets || !state.targetsBytes)
      throw new DrydockError(
        'NOT_FOUND',
        `${opts.repoDir} is not a published channel (no metadata/timestamp.json)`,
      );
    let targetsBytes = state.targetsBytes;
    let tv = state.targets.signed.version;
    let resigned = false;
    let stale = false;
    try {
      checkSignatures(
        'targets.json',
        state.targets,
        keys.root.signed.keys,
        keys.root.signed.roles.targets!,
        'targets',
      );
    } catch {
      stale = true;
    }
    const soon = new Date(now.getTime() + Math.min(expiry.targets, 30) * 86_400_000);
    if (stale || state.targets.signed.isExpired(soon)) {
      tv += 1;
      const md = newTargets(tv, expiresIn(now, expiry.targets), entriesOf(state.targets));
      keys.sign('targets', md);
      targetsBytes = serialize(md);
      await writeAtomic(join(opts.repoDir, 'metadata', `${tv}.targets.json`), targetsBytes);
      resigned = true;
    }
    const top = await writeTop(opts.repoDir, keys, state, targetsBytes, tv, now, expiry);
    return {
      targetsVersion: tv,
      snapshotVersion: top.snapshot,
      timestampVersion: top.timestamp,
      resignedTargets: resigned,
    };
  });
}
