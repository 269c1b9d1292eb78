// The one context the step modules (stage, download, apply, rollback, converge, status) share:
// the parts the engine was given, its records, its event stream, the lock, and the helpers every
// step uses (state transitions, progress, release files, retention). Holds no update logic itself.

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWrite, durableRename, syncTree } from '../../core/durable.ts';
import { DrydockError } from '../../core/index.ts';
import type { BlobStore } from '../blobstore/index.ts';
import type { ClusterDriver, RenderedManifest } from '../cluster/index.ts';
import { canonicalJson, type Hook, type Release, releaseBlobs } from '../release/index.ts';
import type { ProgressStep, ReleaseSummary, UpdateEvent, WorkloadHealth } from './api.ts';
import type { BoxConfig } from './config.ts';
import type { Db } from './db.ts';
import type { ChannelFactory, ReadBundle, ReadBundleHead } from './deps.ts';
import type { StatFs } from './disk.ts';
import type { FaultHook, FaultPoint } from './faults.ts';
import type { Clock } from './health.ts';
import type { Layout } from './layout.ts';
import { underRoot } from './layout.ts';
import { acquireLock, releaseLock } from './lock.ts';
import { ACTIVE_STATES, type UpdateState } from './machine.ts';
import { checkUpdatePolicy, type Running } from './policy.ts';
import type { ReleaseRow, StatePatch, StateRow } from './records.ts';
import { Records } from './records.ts';
import { prune } from './retention.ts';

export interface EngineParts {
  db: Db;
  paths: Layout;
  config: BoxConfig;
  store: BlobStore;
  driver: ClusterDriver;
  clock: Clock;
  statfs: StatFs;
  readBundle: ReadBundle;
  readBundleHead: ReadBundleHead;
  channel: ChannelFactory;
  fetch?: typeof fetch;
  fault: FaultHook;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

const DEFAULT_MARGIN = 64 * 1024 * 1024;

export class EngineContext {
  readonly rec: Records;
  readonly events = new EventEmitter();
  busy = false;
  /** the channel download this process runs, so that cancel() can stop it */
  downloading: { abort: AbortController; done: Promise<unknown> } | null = null;
  lastWorkloads: { at: number; version: string; workloads: WorkloadHealth[] } | null = null;
  private lastProgressWrite = 0;

  constructor(readonly p: EngineParts) {
    this.rec = new Records(p.db);
    this.events.setMaxListeners(0);
  }

  get root(): string {
    return this.p.paths.root;
  }
  get margin(): number {
    return this.p.config.diskMarginBytes ?? DEFAULT_MARGIN;
  }
  get keep(): number {
    return this.p.config.keepReleases ?? 2;
  }
  get trustPath(): string {
    return underRoot(this.root, this.p.config.trustedRoot);
  }
  now(): string {
    return new Date(this.p.clock.now()).toISOString();
  }

  emit(ev: UpdateEvent): void {
    this.events.emit('event', ev);
  }

  log(level: 'info' | 'warn' | 'error', message: string): void {
    this.p.log?.(level, message);
    this.emit({ type: 'log', level, message, at: this.now() });
  }

  /** A named point inside a side effect (faults.ts): the crash tests kill the process there. */
  fault(point: FaultPoint | UpdateState): void {
    this.p.fault(point);
  }

  /** Commits a transition (with `also` in the same transaction), tells subscribers, then the fault hook. */
  go(patch: StatePatch, also?: () => void): StateRow {
    const row = this.rec.transition(patch, also);
    this.emit({
      type: 'state',
      state: row.state,
      target: row.target_version ? { name: row.target_name ?? '', version: row.target_version } : null,
      ...(row.error_message &&
      (row.state === 'failed' || row.state === 'rolling-back' || row.state === 'rolled-back')
        ? { reason: row.error_message }
        : {}),
      at: this.now(),
    });
    this.fault(row.state);
    return row;
  }

  progress(step: ProgressStep, done: number, total: number | null): void {
    this.emit({ type: 'progress', step, done, total, at: this.now() });
    const t = Date.now();
    if (t - this.lastProgressWrite > 250 || (total !== null && done >= total)) {
      this.lastProgressWrite = t;
      this.rec.progress(step, done, total);
    }
  }

  async withLock<T>(owner: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new DrydockError('UPDATE_IN_PROGRESS', 'an update is already running on this box');
    this.busy = true;
    try {
      acquireLock(this.p.db, owner);
      try {
        return await fn();
      } finally {
        releaseLock(this.p.db);
      }
    } finally {
      this.busy = false;
    }
  }

  requireNotActive(): StateRow {
    const st = this.rec.state();
    if (ACTIVE_STATES.has(st.state))
      throw new DrydockError(
        'UPDATE_IN_PROGRESS',
        `an update is ${st.state} (${st.target_version ?? 'staging'})`,
      );
    return st;
  }

  runningRow(): ReleaseRow | null {
    return this.rec.byRole('running');
  }

  runningPolicy(): Running | null {
    const row = this.runningRow();
    if (!row) return null;
    const doc = this.rec.document(row);
    return { name: doc.name, version: doc.version, k3sVersion: doc.k3s?.version ?? null };
  }

  async runningForPolicy(): Promise<Running | null> {
    const r = this.runningPolicy();
    if (r && !r.k3sVersion) {
      // a release that ships no k3s runs on whatever the box has: ask the cluster
      const ping = await this.p.driver.ping().catch(() => null);
      r.k3sVersion = ping?.k3sVersion ?? null;
    }
    return r;
  }

  /** The release a state row's version names, from its stored document. */
  releaseOf(version: string): Release {
    return this.rec.document(this.rec.releaseRow(version)!);
  }

  /** The manifests of a release as the cluster gets them, checked against their digests. */
  async rendered(release: Release): Promise<RenderedManifest[]> {
    const out: RenderedManifest[] = [];
    for (const m of release.manifests)
      out.push({ name: m.name, content: await this.blobText(m.blob.digest) });
    return out;
  }

  async blobText(digest: string): Promise<string> {
    const bytes = await readFile(this.p.store.path(digest)).catch(() => {
      throw new DrydockError('BLOB_MISSING', `blob ${digest} is not on the box`);
    });
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (got !== digest)
      throw new DrydockError('BLOB_DIGEST_MISMATCH', `stored blob ${digest} hashes to ${got}`);
    return bytes.toString('utf8');
  }

  async hookManifest(hook: Hook): Promise<RenderedManifest> {
    return { name: `hook-${hook.name}.yaml`, content: await this.blobText(hook.job.digest) };
  }

  async missingBlobs(release: Release): Promise<{ count: number; bytes: number }> {
    let count = 0;
    let bytes = 0;
    for (const b of releaseBlobs(release))
      if (!(await this.p.store.has(b.digest, b.size))) {
        count++;
        bytes += b.size;
      }
    return { count, bytes };
  }

  async summary(release: Release, policy: Running | null): Promise<ReleaseSummary> {
    const blobs = releaseBlobs(release);
    let installable = true;
    let reason: string | undefined;
    try {
      checkUpdatePolicy(policy, release);
    } catch (e) {
      installable = false;
      reason = (e as Error).message;
    }
    return {
      name: release.name,
      version: release.version,
      channel: release.channel,
      upgradeFrom: release.upgradeFrom,
      notes: release.notes,
      downloadBytes: (await this.missingBlobs(release)).bytes,
      totalBytes: blobs.reduce((a, b) => a + b.size, 0),
      deadlineSeconds: release.health.deadlineSeconds,
      changesData: release.data?.changesData ?? false,
      ...(release.k3s ? { k3sVersion: release.k3s.version } : {}),
      createdAt: release.createdAt,
      ...(release.waves ? { waves: release.waves } : {}),
      installable,
      ...(reason ? { reason } : {}),
    };
  }

  /** releases/<version>/: release.json (canonical) and the manifests, written to a temp folder and renamed. */
  async writeReleaseFiles(release: Release): Promise<void> {
    const dir = this.p.paths.release(release.version);
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(join(tmp, 'manifests'), { recursive: true });
    await writeFile(join(tmp, 'release.json'), canonicalJson(release));
    // killed here, a half-written temp folder is left: retention removes it, the release is not staged
    this.fault('stage:files-partial');
    for (const m of await this.rendered(release)) await writeFile(join(tmp, 'manifests', m.name), m.content);
    // the files and the folder on disk before the rename makes them the release
    await syncTree(tmp);
    await rm(dir, { recursive: true, force: true });
    await durableRename(tmp, dir);
  }

  /** A bundle may carry newer root versions (each signed by the one before, checked by the reader). */
  async persistRoots(roots: unknown[]): Promise<void> {
    const newest = roots.at(-1);
    if (newest === undefined) return;
    await atomicWrite(this.trustPath, `${JSON.stringify(newest, null, 2)}\n`, 0o644);
  }

  async pruneNow(): Promise<void> {
    const r = await prune(this.rec, this.p.store, this.p.paths, this.keep);
    if (r.blobs || r.releases.length || r.snapshots.length)
      this.log(
        'info',
        `pruned ${r.blobs} blob(s), releases [${r.releases.join(', ')}], snapshots [${r.snapshots.join(', ')}]`,
      );
  }

  timed<T>(historyId: number | null, step: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    return fn().finally(() => {
      if (historyId !== null) this.rec.addStep(historyId, step, performance.now() - t0);
    });
  }
}
