// The update engine: moves the box to a verified release or leaves it where it was. Each state
// transition is one SQLite transaction written before the side effect it starts, so that a crash
// at any point leaves a row saying what was under way, and `converge` (run by every open) finishes
// or undoes it. Side effects are idempotent so that converging may simply redo them.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import semver from 'semver';
import { asDrydockError, DrydockError } from '../../core/index.ts';
import type { BlobStore } from '../blobstore/index.ts';
import type { ClusterDriver, RenderedManifest } from '../cluster/index.ts';
import { canonicalJson, type Hook, parseRelease, type Release, releaseBlobs } from '../release/index.ts';
import type {
  Actor,
  AuditEntry,
  Box,
  BoxStatus,
  HistoryEntry,
  ProgressStep,
  ReleaseSummary,
  Settings,
  UpdateEvent,
  UpdateState,
  WorkloadHealth,
} from './api.ts';
import type { BoxConfig } from './config.ts';
import type { Db } from './db.ts';
import type { Channel, ChannelFactory, ReadBundle, ReadBundleHead } from './deps.ts';
import { asDiskAware, diskInfo, folderBytes, requireSpace, type StatFs } from './disk.ts';
import type { FaultHook } from './faults.ts';
import { type Clock, waitHealthy } from './health.ts';
import type { Layout } from './layout.ts';
import { underRoot } from './layout.ts';
import { acquireLock, lockHolder, releaseLock } from './lock.ts';
import { checkUpdatePolicy, type Running } from './policy.ts';
import type { ReleaseRow, StateRow } from './records.ts';
import { Records } from './records.ts';
import { ACTIVE_STATES } from './machine.ts';
import { prune } from './retention.ts';
import { type SettingsPatch, validateSettings } from './settings.ts';

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

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export class Engine implements Box {
  readonly root: string;
  private readonly rec: Records;
  private readonly events = new EventEmitter();
  private busy = false;
  /** the channel download this process runs, so that cancel() can stop it */
  private downloading: { abort: AbortController; done: Promise<unknown> } | null = null;
  private lastWorkloads: { at: number; version: string; workloads: WorkloadHealth[] } | null = null;
  private lastProgressWrite = 0;

  constructor(private readonly p: EngineParts) {
    this.root = p.paths.root;
    this.rec = new Records(p.db);
    this.events.setMaxListeners(0);
  }

  // ---------------------------------------------------------------- plumbing

  private get margin(): number {
    return this.p.config.diskMarginBytes ?? DEFAULT_MARGIN;
  }
  private get keep(): number {
    return this.p.config.keepReleases ?? 2;
  }
  private get trustPath(): string {
    return underRoot(this.root, this.p.config.trustedRoot);
  }
  private now(): string {
    return iso(this.p.clock.now());
  }

  private emit(ev: UpdateEvent): void {
    this.events.emit('event', ev);
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.p.log?.(level, message);
    this.emit({ type: 'log', level, message, at: this.now() });
  }

  /** Commits a transition (with `also` in the same transaction), tells subscribers, then the fault hook. */
  private go(patch: Parameters<Records['transition']>[0], also?: () => void): StateRow {
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
    this.p.fault(row.state);
    return row;
  }

  private progress(step: ProgressStep, done: number, total: number | null): void {
    this.emit({ type: 'progress', step, done, total, at: this.now() });
    const t = Date.now();
    if (t - this.lastProgressWrite > 250 || (total !== null && done >= total)) {
      this.lastProgressWrite = t;
      this.rec.progress(step, done, total);
    }
  }

  private async withLock<T>(owner: string, fn: () => Promise<T>): Promise<T> {
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

  private requireNotActive(): StateRow {
    const st = this.rec.state();
    if (ACTIVE_STATES.has(st.state))
      throw new DrydockError(
        'UPDATE_IN_PROGRESS',
        `an update is ${st.state} (${st.target_version ?? 'staging'})`,
      );
    return st;
  }

  private runningRow(): ReleaseRow | null {
    return this.rec.byRole('running');
  }

  private runningPolicy(): Running | null {
    const row = this.runningRow();
    if (!row) return null;
    const doc = this.rec.document(row);
    return { name: doc.name, version: doc.version, k3sVersion: doc.k3s?.version ?? null };
  }

  private async runningForPolicy(): Promise<Running | null> {
    const r = this.runningPolicy();
    if (r && !r.k3sVersion) {
      // a release that ships no k3s runs on whatever the box has: ask the cluster
      const ping = await this.p.driver.ping().catch(() => null);
      r.k3sVersion = ping?.k3sVersion ?? null;
    }
    return r;
  }

  /** The manifests of a release as the cluster gets them, checked against their digests. */
  private async rendered(release: Release): Promise<RenderedManifest[]> {
    const out: RenderedManifest[] = [];
    for (const m of release.manifests)
      out.push({ name: m.name, content: await this.blobText(m.blob.digest) });
    return out;
  }

  private async blobText(digest: string): Promise<string> {
    const bytes = await readFile(this.p.store.path(digest)).catch(() => {
      throw new DrydockError('BLOB_MISSING', `blob ${digest} is not on the box`);
    });
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (got !== digest)
      throw new DrydockError('BLOB_DIGEST_MISMATCH', `stored blob ${digest} hashes to ${got}`);
    return bytes.toString('utf8');
  }

  private async hookManifest(hook: Hook): Promise<RenderedManifest> {
    return { name: `hook-${hook.name}.yaml`, content: await this.blobText(hook.job.digest) };
  }

  private async missingBlobs(release: Release): Promise<{ count: number; bytes: number }> {
    let count = 0;
    let bytes = 0;
    for (const b of releaseBlobs(release))
      if (!(await this.p.store.has(b.digest, b.size))) {
        count++;
        bytes += b.size;
      }
    return { count, bytes };
  }

  private async summary(release: Release, policy: Running | null): Promise<ReleaseSummary> {
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
  private async writeReleaseFiles(release: Release): Promise<void> {
    const dir = this.p.paths.release(release.version);
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(join(tmp, 'manifests'), { recursive: true });
    await writeFile(join(tmp, 'release.json'), canonicalJson(release));
    for (const m of await this.rendered(release)) await writeFile(join(tmp, 'manifests', m.name), m.content);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  }

  /** A bundle may carry newer root versions (each signed by the one before, checked by the reader). */
  private async persistRoots(roots: unknown[]): Promise<void> {
    const newest = roots.at(-1);
    if (newest === undefined) return;
    const tmp = `${this.trustPath}.tmp-${process.pid}`;
    await writeFile(tmp, `${JSON.stringify(newest, null, 2)}\n`, { mode: 0o644 });
    await rename(tmp, this.trustPath);
  }

  private async lastSnapshotBytes(): Promise<number> {
    const row = this.runningRow();
    return row?.snapshot_id ? folderBytes(this.p.paths.snapshot(row.snapshot_id)) : 0;
  }

  private async preflight(release: Release, running: Running | null): Promise<void> {
    const missing = await this.missingBlobs(release);
    if (missing.count)
      throw new DrydockError(
        'BLOB_MISSING',
        `${missing.count} blob(s) of ${release.version} are not on the box`,
      );
    await requireSpace(
      this.p.statfs,
      this.p.paths.lib,
      running ? await this.lastSnapshotBytes() : 0,
      this.margin,
      `the snapshot before ${release.version}`,
    );
    if (!running) return;
    const ping = await this.p.driver.ping().catch((e: Error) => ({ ok: false, message: e.message }));
    if (!ping.ok)
      throw new DrydockError('CLUSTER_UNAVAILABLE', `the cluster is not answering: ${ping.message}`);
    const runningRelease = this.rec.document(this.runningRow()!);
    const ws = await this.p.driver.workloads(runningRelease.health.workloads);
    const bad = ws.filter((w) => !w.ready);
    if (bad.length)
      throw new DrydockError(
        'PREFLIGHT_FAILED',
        `the running release ${running.version} is not healthy, so no update starts: ${bad.map((w) => `${w.namespace}/${w.name}: ${w.message}`).join('; ')}`,
      );
  }

  private async pruneNow(): Promise<void> {
    const r = await prune(this.rec, this.p.store, this.p.paths, this.keep);
    if (r.blobs || r.releases.length || r.snapshots.length)
      this.log(
        'info',
        `pruned ${r.blobs} blob(s), releases [${r.releases.join(', ')}], snapshots [${r.snapshots.join(', ')}]`,
      );
  }

  private timed<T>(historyId: number | null, step: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    return fn().finally(() => {
      if (historyId !== null) this.rec.addStep(historyId, step, performance.now() - t0);
    });
  }

  // ---------------------------------------------------------------- staging

  private async stageLocked(actor: Actor, bundlePath: string): Promise<Release> {
    const before = this.requireNotActive();
    const size = await stat(bundlePath).then(
      (s) => {
        if (!s.isFile()) throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${bundlePath} is not a file`);
        return s.size;
      },
      () => {
        throw new DrydockError('NOT_FOUND', `no bundle at ${bundlePath}`);
      },
    );
    // signatures and policy first, from the bundle's verified head: a refused bundle changes nothing
    let head: { release: Release };
    try {
      head = await this.p.readBundleHead(bundlePath, { trustedRoot: this.trustPath });
      checkUpdatePolicy(await this.runningForPolicy(), head.release);
      await requireSpace(this.p.statfs, this.p.paths.blobs, size, this.margin, 'staging the bundle');
    } catch (e) {
      const err = asDrydockError(e);
      this.rec.audit(actor.user, actor.from, 'stage', `bundle refused: ${err.code}: ${err.message}`, 'error');
      throw err;
    }
    const blobsBefore = new Set(await this.p.store.list());
    this.go({
      state: 'downloading',
      source: 'bundle',
      kind: null,
      target_name: head.release.name,
      target_version: head.release.version,
      from_version: this.runningRow()?.version ?? null,
      history_id: null,
      snapshot_id: null,
      automatic: 0,
      error_code: null,
      error_message: null,
      step: 'verify',
      progress_done: 0,
      progress_total: size,
    });
    let version: string | null = head.release.version;
    try {
      const { release, roots } = await this.p.readBundle(bundlePath, {
        trustedRoot: this.trustPath,
        blobs: this.p.store,
        onProgress: (done, total) => this.progress('verify', done, total ?? size),
      });
      version = release.version;
      this.p.fault('stage:blobs');
      if (canonicalJson(release) !== canonicalJson(head.release))
        throw new DrydockError('BUNDLE_RELEASE_INVALID', 'the bundle changed while it was being read');
      this.progress('stage', 0, release.manifests.length);
      await this.writeReleaseFiles(release);
      this.p.fault('stage:files');
      await this.persistRoots(roots);
      this.go(
        {
          state: 'staged',
          target_name: release.name,
          target_version: release.version,
          step: null,
          progress_done: null,
          progress_total: null,
        },
        () => this.rec.putStaged(release, canonicalJson(release)),
      );
      this.rec.audit(
        actor.user,
        actor.from,
        'stage',
        `staged ${release.name} ${release.version} from a bundle`,
        'ok',
      );
      await this.pruneNow(); // a release staged earlier and replaced by this one
      return release;
    } catch (e) {
      const err = asDiskAware(e);
      await this.giveBack(blobsBefore, version);
      if (err.exitCode === 1) {
        // refused input: the box is as it was, state row included
        this.go({
          state: before.state,
          source: before.source,
          kind: before.kind,
          target_name: before.target_name,
          target_version: before.target_version,
          from_version: before.from_version,
          history_id: before.history_id,
          snapshot_id: before.snapshot_id,
          automatic: before.automatic,
          error_code: before.error_code,
          error_message: before.error_message,
          step: null,
          progress_done: null,
          progress_total: null,
        });
      } else {
        this.go({
          state: 'failed',
          step: null,
          error_code: err.code,
          error_message: `staging failed: ${err.message}`,
        });
      }
      this.rec.audit(actor.user, actor.from, 'stage', `bundle refused: ${err.code}: ${err.message}`, 'error');
      throw err;
    }
  }

  /** Removes what a failed staging wrote: blobs that were not there before (unless a kept release needs them) and its folder. */
  private async giveBack(blobsBefore: Set<string>, version: string | null): Promise<void> {
    const needed = new Set<string>();
    for (const r of this.rec.releases())
      for (const b of releaseBlobs(this.rec.document(r))) needed.add(b.digest);
    for (const d of await this.p.store.list())
      if (!blobsBefore.has(d) && !needed.has(d)) await this.p.store.remove(d);
    await rm(this.p.store.dir + '/tmp', { recursive: true, force: true });
    await mkdir(this.p.store.dir + '/tmp', { recursive: true });
    if (version && !this.rec.releaseRow(version))
      await rm(this.p.paths.release(version), { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- applying

  private async applyLocked(actor: Actor): Promise<HistoryEntry> {
    const st = this.rec.state();
    if (st.state !== 'staged' || !st.target_version)
      throw new DrydockError('NO_UPDATE', 'no release is staged');
    const row = this.rec.releaseRow(st.target_version);
    if (!row) throw new DrydockError('NO_UPDATE', `the staged release ${st.target_version} is gone`);
    const release = this.rec.document(row);
    const running = await this.runningForPolicy();
    checkUpdatePolicy(running, release);
    await this.preflight(release, running);

    const kind = running ? 'update' : 'install';
    const snapshotId = running ? `${this.now().replace(/[:.]/g, '-')}-${release.version}` : null;
    let hid = 0;
    this.go(
      {
        state: running ? 'snapshotting' : 'applying',
        kind,
        from_version: running?.version ?? null,
        snapshot_id: snapshotId,
        automatic: 0,
        error_code: null,
        error_message: null,
      },
      () => {
        hid = this.rec.startHistory({
          from: running?.version ?? null,
          to: release.version,
          kind,
          actor: actor.user,
        });
        this.rec.writeState({ history_id: hid });
      },
    );
    this.rec.audit(
      actor.user,
      actor.from,
      'apply',
      `${kind} ${running?.version ?? '-'} → ${release.version}`,
      'ok',
    );
    if (running && snapshotId) {
      try {
        await this.timed(hid, 'snapshot', () => this.takeSnapshot(release, snapshotId));
      } catch (e) {
        const err = asDrydockError(e);
        await rm(this.p.paths.snapshot(snapshotId), { recursive: true, force: true });
        const reason = `the snapshot before ${release.version} failed, nothing was changed: ${err.message}`;
        this.go({ state: 'failed', error_code: err.code, error_message: reason, step: null }, () =>
          this.rec.finishHistory(hid, 'failed', reason, false),
        );
        await this.pruneNow();
        throw new DrydockError(err.code, reason, { cause: err });
      }
      this.go({ state: 'applying' });
    }
    return this.applyAndGate(this.rec.state());
  }

  private async takeSnapshot(release: Release, id: string): Promise<void> {
    const dir = this.p.paths.snapshot(id);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const volumes = release.data?.volumes ?? [];
    const backup = release.hooks?.backup;
    this.progress('snapshot', 0, 1);
    if (backup) {
      const r = await this.p.driver.runJob(await this.hookManifest(backup), backup.timeoutSeconds);
      if (!r.ok)
        throw new DrydockError('PREFLIGHT_FAILED', `backup hook ${backup.name} failed: ${r.message}`);
    } else {
      await this.p.driver.snapshot(join(dir, 'data'), volumes);
    }
    await writeFile(
      join(dir, 'snapshot.json'),
      JSON.stringify({
        before: release.version,
        by: backup ? `hook ${backup.name}` : 'driver',
        volumes,
        takenAt: this.now(),
      }),
    );
    this.progress('snapshot', 1, 1);
    this.p.fault('snapshot:taken');
  }

  /** applying → verifying-health → committed, or → rolling-back. Redone as a whole by converge. */
  private async applyAndGate(st: StateRow): Promise<HistoryEntry> {
    const hid = st.history_id!;
    const release = this.rec.document(this.rec.releaseRow(st.target_version!)!);
    const runningRow = this.runningRow();
    const previous = runningRow ? this.rec.document(runningRow) : null;
    try {
      await this.timed(hid, 'apply', () => this.sideEffectsOfApply(release, previous));
    } catch (e) {
      const err = asDrydockError(e);
      return this.undo(release, previous, `applying ${release.version} failed: ${err.message}`);
    }
    this.go({ state: 'verifying-health', step: 'health' });
    const deadlineAt = this.p.clock.now() + release.health.deadlineSeconds * 1000;
    const health = await this.timed(hid, 'health', () => this.gate(release, deadlineAt));
    if (!health.ok) return this.undo(release, previous, health.reason);

    const at = this.now();
    this.go(
      {
        state: 'committed',
        step: null,
        progress_done: null,
        progress_total: null,
        error_code: null,
        error_message: null,
      },
      () => {
        const prev = this.rec.byRole('previous');
        if (prev && prev.version !== release.version) this.rec.setRole(prev.version, 'retained');
        if (runningRow) this.rec.setRole(runningRow.version, 'previous', { left_at: at });
        this.rec.setRole(release.version, 'running', {
          installed_at: at,
          left_at: null,
          snapshot_id: st.snapshot_id,
        });
        this.rec.finishHistory(hid, 'committed', null, false);
      },
    );
    this.p.fault('commit:prune');
    await this.pruneNow();
    this.log('info', `${release.version} committed`);
    return this.rec.historyEntry(hid)!;
  }

  private async sideEffectsOfApply(release: Release, previous: Release | null): Promise<void> {
    const store = this.p.store;
    if (release.k3s && release.k3s.version !== (previous?.k3s?.version ?? null)) {
      await this.p.driver.installK3s(store.path(release.k3s.binary.digest), release.k3s.version);
      this.p.fault('apply:k3s');
    }
    await this.p.driver.importImages(release.images, store, (done, total) =>
      this.progress('import', done, total),
    );
    this.p.fault('apply:images');
    for (const hook of release.hooks?.preApply ?? []) await this.runHook(hook, 'pre-apply');
    this.p.fault('apply:pre-hooks');
    this.progress('apply', 0, release.manifests.length);
    await this.p.driver.applyManifests(
      { name: release.name, version: release.version },
      await this.rendered(release),
      previous ? await this.rendered(previous) : null,
    );
    this.progress('apply', release.manifests.length, release.manifests.length);
    this.p.fault('apply:manifests');
    for (const hook of release.hooks?.postApply ?? []) await this.runHook(hook, 'post-apply');
    this.p.fault('apply:post-hooks');
  }

  private async runHook(hook: Hook, when: string): Promise<void> {
    const r = await this.p.driver.runJob(await this.hookManifest(hook), hook.timeoutSeconds);
    if (!r.ok) throw new DrydockError('TOOL_FAILED', `${when} hook ${hook.name} failed: ${r.message}`);
  }

  private gate(release: Release, deadlineAt: number) {
    const total = release.health.workloads.length + release.health.probes.length;
    return waitHealthy(this.p.driver, release, {
      clock: this.p.clock,
      pollMs: this.p.config.healthPollMs ?? 500,
      deadlineAt,
      onPoll: (r) => {
        this.lastWorkloads = { at: Date.now(), version: release.version, workloads: r.workloads };
        const bad = r.ok ? 0 : Math.max(1, r.reason.split('; ').length);
        this.progress('health', Math.max(0, total - bad), total);
      },
    });
  }

  /** The new release failed (apply or health): back to the previous one, data too if it changed data. */
  private async undo(release: Release, previous: Release | null, reason: string): Promise<HistoryEntry> {
    const st = this.go({
      state: 'rolling-back',
      error_code: 'HEALTH_TIMEOUT',
      error_message: reason,
      automatic: 1,
    });
    this.log('warn', `rolling back from ${release.version}: ${reason}`);
    return this.finishUndo(st, release, previous);
  }

  private async finishUndo(st: StateRow, release: Release, previous: Release | null): Promise<HistoryEntry> {
    const hid = st.history_id!;
    const reason = st.error_message ?? 'the update did not complete';
    let outcomeReason = previous
      ? `rolled back to ${previous.version}: ${reason}`
      : `first install of ${release.version} failed and was removed: ${reason}`;
    try {
      await this.timed(hid, 'rollback', async () => {
        if (previous) {
          const snapshot = release.data?.changesData ? st.snapshot_id : null;
          await this.restoreTo(previous, release, snapshot);
          const h = await this.gate(previous, this.p.clock.now() + previous.health.deadlineSeconds * 1000);
          if (!h.ok) outcomeReason += `; ${previous.version} did not become healthy again: ${h.reason}`;
        } else {
          await this.p.driver.applyManifests(
            { name: release.name, version: release.version },
            [],
            await this.rendered(release),
          );
        }
      });
    } catch (e) {
      outcomeReason += `; restoring failed: ${asDrydockError(e).message}`;
    }
    this.go(
      {
        state: previous ? 'rolled-back' : 'failed',
        step: null,
        progress_done: null,
        progress_total: null,
        error_message: outcomeReason,
      },
      () => {
        this.rec.finishHistory(hid, previous ? 'rolled-back' : 'failed', outcomeReason, true);
        const row = this.rec.releaseRow(release.version);
        if (row?.role === 'staged') this.rec.deleteRelease(release.version);
      },
    );
    await this.pruneNow();
    return this.rec.historyEntry(hid)!;
  }

  /** Puts `to` back in place of `from`: k3s, images, manifests, then the data snapshot if given. */
  private async restoreTo(to: Release, from: Release, snapshotId: string | null): Promise<void> {
    const store = this.p.store;
    if (to.k3s && to.k3s.version !== (from.k3s?.version ?? null))
      await this.p.driver.installK3s(store.path(to.k3s.binary.digest), to.k3s.version);
    await this.p.driver.importImages(to.images, store, (done, total) =>
      this.progress('restore', done, total),
    );
    this.p.fault('rollback:images');
    await this.p.driver.applyManifests(
      { name: to.name, version: to.version },
      await this.rendered(to),
      await this.rendered(from).catch(() => null),
    );
    this.p.fault('rollback:manifests');
    if (snapshotId) {
      const dir = this.p.paths.snapshot(snapshotId);
      const hook = from.hooks?.restore;
      if (hook) {
        const r = await this.p.driver.runJob(await this.hookManifest(hook), hook.timeoutSeconds);
        if (!r.ok) throw new DrydockError('TOOL_FAILED', `restore hook ${hook.name} failed: ${r.message}`);
      } else await this.p.driver.restore(join(dir, 'data'), from.data?.volumes ?? []);
      this.p.fault('rollback:restore');
    }
  }

  // ---------------------------------------------------------------- explicit rollback

  private async rollbackLocked(actor: Actor): Promise<HistoryEntry> {
    this.requireNotActive();
    const runRow = this.runningRow();
    if (!runRow) throw new DrydockError('BOX_NOT_INITIALISED', 'no release is running');
    const prevRow = this.rec.byRole('previous');
    if (!prevRow)
      throw new DrydockError(
        'NO_PREVIOUS_RELEASE',
        `no previous release is retained to go back to from ${runRow.version}`,
      );
    const prev = this.rec.document(prevRow);
    const missing = await this.missingBlobs(prev);
    if (missing.count)
      throw new DrydockError('BLOB_MISSING', `${missing.count} blob(s) of ${prev.version} are missing`);
    let hid = 0;
    const st = this.go(
      {
        state: 'rolling-back',
        kind: 'rollback',
        source: null,
        target_name: prev.name,
        target_version: prev.version,
        from_version: runRow.version,
        snapshot_id: runRow.snapshot_id,
        automatic: 0,
        error_code: null,
        error_message: null,
      },
      () => {
        hid = this.rec.startHistory({
          from: runRow.version,
          to: prev.version,
          kind: 'rollback',
          actor: actor.user,
        });
        this.rec.writeState({ history_id: hid });
      },
    );
    this.rec.audit(actor.user, actor.from, 'rollback', `${runRow.version} → ${prev.version}`, 'ok');
    return this.finishRollback(st, actor.user);
  }

  private async finishRollback(st: StateRow, user: string): Promise<HistoryEntry> {
    const hid = st.history_id!;
    const from = this.rec.document(this.rec.releaseRow(st.from_version!)!);
    const to = this.rec.document(this.rec.releaseRow(st.target_version!)!);
    const requester = this.rec.historyEntry(hid)?.actor ?? user;
    let reason = `rolled back from ${from.version} to ${to.version} at the request of ${requester}${user === 'converge' ? ' (finished after the updater restarted)' : ''}`;
    let outcome = 'rolled-back' as HistoryEntry['outcome'];
    await this.timed(hid, 'rollback', async () => {
      try {
        await this.restoreTo(to, from, from.data?.changesData ? st.snapshot_id : null);
        const h = await this.gate(to, this.p.clock.now() + to.health.deadlineSeconds * 1000);
        if (!h.ok) {
          outcome = 'failed';
          reason += `; ${to.version} did not become healthy: ${h.reason}`;
        }
      } catch (e) {
        outcome = 'failed';
        reason += `; ${asDrydockError(e).message}`;
      }
    });
    const at = this.now();
    // the manifests now are those of `to`: it is the running release whatever its health
    this.go(
      {
        state: outcome === 'failed' ? 'failed' : 'rolled-back',
        step: null,
        progress_done: null,
        progress_total: null,
        error_code: outcome === 'failed' ? 'UPDATE_ROLLED_BACK' : null,
        error_message: outcome === 'failed' ? reason : null,
      },
      () => {
        this.rec.setRole(from.version, 'previous', { left_at: at });
        this.rec.setRole(to.version, 'running', { installed_at: at, left_at: null });
        this.rec.finishHistory(hid, outcome, reason, false);
      },
    );
    await this.pruneNow();
    return this.rec.historyEntry(hid)!;
  }

  // ---------------------------------------------------------------- online

  private async channel(): Promise<Channel> {
    const url = this.rec.settings().channelUrl;
    if (!url)
      throw new DrydockError(
        'CONFIG_INVALID',
        'no channel URL is set (settings channelUrl or config.yaml channelUrl)',
      );
    const running = this.runningRow();
    return this.p.channel({
      url,
      channel: this.p.config.channel ?? (running ? this.rec.document(running).channel : 'stable'),
      metadataDir: this.p.paths.tuf,
      trustedRoot: this.trustPath,
      ...(this.p.fetch ? { fetch: this.p.fetch } : {}),
    });
  }

  private async downloadLocked(
    actor: Actor,
    version: string | undefined,
    resume: StateRow | null,
  ): Promise<void> {
    let release: Release | undefined;
    if (resume) release = this.rec.available().find((r) => r.version === resume.target_version);
    else {
      this.requireNotActive();
      const running = await this.runningForPolicy();
      const offers = this.rec.available().sort((a, b) => semver.rcompare(a.version, b.version));
      if (version) {
        release = offers.find((r) => r.version === version);
        if (!release)
          throw new DrydockError('NO_UPDATE', `${version} is not offered by the channel (run check first)`);
        checkUpdatePolicy(running, release);
      } else
        release = offers.find((r) => {
          try {
            checkUpdatePolicy(running, r);
            return true;
          } catch {
            return false;
          }
        });
      if (!release) throw new DrydockError('NO_UPDATE', 'the channel offers no release this box can install');
    }
    if (!release) throw new DrydockError('NO_UPDATE', 'the release being downloaded is no longer known');
    const missing = await this.missingBlobs(release);
    try {
      await requireSpace(
        this.p.statfs,
        this.p.paths.blobs,
        missing.bytes,
        this.margin,
        `downloading ${release.version}`,
      );
      if (!resume)
        this.go({
          state: 'downloading',
          source: 'channel',
          kind: null,
          target_name: release.name,
          target_version: release.version,
          from_version: null,
          history_id: null,
          snapshot_id: null,
          automatic: 0,
          error_code: null,
          error_message: null,
          step: 'download',
          progress_done: 0,
          progress_total: missing.bytes,
        });
      const chan = await this.channel();
      await this.watchDisk(missing.bytes, (signal, onBytes) =>
        chan.fetchBlobs(release, this.p.store, {
          signal,
          onProgress: (d, t) => {
            onBytes(d);
            this.progress('download', d, t ?? missing.bytes);
          },
        }),
      );
      const still = await this.missingBlobs(release);
      if (still.count)
        throw new DrydockError('BLOB_MISSING', `${still.count} blob(s) of ${release.version} did not arrive`);
      await this.writeReleaseFiles(release);
      this.go({ state: 'staged', step: null, progress_done: null, progress_total: null }, () =>
        this.rec.putStaged(release, canonicalJson(release)),
      );
      this.rec.audit(actor.user, actor.from, 'download', `downloaded ${release.version}`, 'ok');
    } catch (e) {
      let err = asDiskAware(e);
      // a writer may report ENOSPC as a short or broken file: if the disk has no room left for
      // what is still missing, that is what happened
      if (err.code !== 'DISK_FULL' && err.code !== 'UPDATE_CANCELLED') {
        const still = await this.missingBlobs(release).catch(() => ({ bytes: 0 }));
        const { freeBytes } = await diskInfo(this.p.statfs, this.p.paths.blobs);
        if (still.bytes > 0 && freeBytes < still.bytes)
          err = new DrydockError(
            'DISK_FULL',
            `the disk filled up during the download (${freeBytes} bytes free, ${still.bytes} still needed): ${err.message}`,
            { cause: e },
          );
      }
      if (this.downloading?.abort.signal.aborted) {
        // cancelled by the admin: back to idle, what arrived is dropped
        this.go({
          state: 'idle',
          source: null,
          target_name: null,
          target_version: null,
          step: null,
          progress_done: null,
          progress_total: null,
          error_code: null,
          error_message: null,
        });
        await this.pruneNow();
        throw new DrydockError('UPDATE_CANCELLED', `the download of ${release.version} was cancelled`);
      }
      // a network failure keeps what arrived (the next download resumes); disk full gives space back
      if (err.code === 'DISK_FULL') {
        this.go({
          state: 'failed',
          step: null,
          error_code: err.code,
          error_message: `download failed: ${err.message}`,
        });
        await this.pruneNow();
      } else
        this.go({
          state: 'failed',
          step: null,
          error_code: err.code,
          error_message: `download failed: ${err.message}`,
        });
      this.rec.audit(
        actor.user,
        actor.from,
        'download',
        `${release.version}: ${err.code}: ${err.message}`,
        'error',
      );
      throw err;
    }
  }

  /**
   * Runs a download while watching the disk: when something else fills it so that what is still
   * to come no longer fits, the download is aborted at once with DISK_FULL (rather than filling
   * the disk k3s lives on to the last byte, or waiting on a writer that may never report it).
   */
  private async watchDisk<T>(
    total: number,
    run: (signal: AbortSignal, onBytes: (done: number) => void) => Promise<T>,
  ): Promise<T> {
    const ac = new AbortController();
    const cancel = this.downloading?.abort.signal;
    let done = 0;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const watch = new Promise<never>((_, reject) => {
      const tick = async () => {
        if (stopped) return;
        const { freeBytes } = await diskInfo(this.p.statfs, this.p.paths.blobs).catch(() => ({
          freeBytes: Infinity,
        }));
        const left = Math.max(0, total - done);
        if (left > 0 && freeBytes < left) {
          ac.abort();
          reject(
            new DrydockError(
              'DISK_FULL',
              `the disk filled up during the download: ${freeBytes} bytes free, ${left} still to come`,
            ),
          );
          return;
        }
        if (!stopped) timer = setTimeout(tick, 250);
      };
      timer = setTimeout(tick, 250);
      cancel?.addEventListener(
        'abort',
        () => {
          ac.abort();
          reject(new DrydockError('UPDATE_CANCELLED', 'the download was cancelled'));
        },
        { once: true },
      );
    });
    watch.catch(() => {}); // settled late (after the download ended) it is of no interest
    try {
      return await Promise.race([run(ac.signal, (d) => (done = d)), watch]);
    } finally {
      stopped = true;
      clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------- convergence

  /** Finishes or undoes whatever a crash interrupted; a no-op when another live process holds the lock. */
  async converge(): Promise<void> {
    const holder = lockHolder(this.p.db);
    if (holder?.alive) return;
    const st = this.rec.state();
    const actor = { user: 'converge', from: 'local' };
    if (!ACTIVE_STATES.has(st.state)) {
      if (holder) this.p.db.prepare('DELETE FROM update_lock WHERE id = 1').run();
      await this.pruneNow();
      return;
    }
    this.log('warn', `an update was interrupted while ${st.state}; converging`);
    await this.withLock('converge', async () => {
      switch (st.state) {
        case 'downloading': {
          if (st.source === 'channel' && st.target_version && this.rec.settings().channelUrl) {
            try {
              await this.downloadLocked(actor, undefined, st);
              return;
            } catch {
              return; // recorded as failed by downloadLocked; what arrived stays for the next try
            }
          }
          const reason = 'staging was interrupted; the partial release was removed and nothing else changed';
          this.go(
            { state: 'failed', step: null, error_code: 'UPDATE_CANCELLED', error_message: reason },
            () => {
              if (st.target_version) {
                const id = this.rec.startHistory({
                  from: st.from_version,
                  to: st.target_version,
                  kind: st.from_version ? 'update' : 'install',
                  actor: 'converge',
                });
                this.rec.finishHistory(id, 'failed', reason, true);
              }
            },
          );
          await this.pruneNow();
          await rm(`${this.p.store.dir}/tmp`, { recursive: true, force: true });
          await mkdir(`${this.p.store.dir}/tmp`, { recursive: true });
          return;
        }
        case 'snapshotting': {
          const reason = 'the updater stopped while taking the snapshot; nothing was changed';
          if (st.snapshot_id)
            await rm(this.p.paths.snapshot(st.snapshot_id), { recursive: true, force: true });
          this.go(
            { state: 'failed', step: null, error_code: 'UPDATE_CANCELLED', error_message: reason },
            () => {
              if (st.history_id) this.rec.finishHistory(st.history_id, 'failed', reason, true);
            },
          );
          await this.pruneNow();
          return;
        }
        case 'applying':
        case 'verifying-health': {
          // finish the update: redo the (idempotent) apply, then a full health wait
          this.go({ state: 'applying' });
          await this.applyAndGate(this.rec.state());
          return;
        }
        case 'rolling-back': {
          if (st.kind === 'rollback') await this.finishRollback(st, 'converge');
          else {
            const release = this.rec.document(this.rec.releaseRow(st.target_version!)!);
            const runningRow = this.runningRow();
            await this.finishUndo(st, release, runningRow ? this.rec.document(runningRow) : null);
          }
          return;
        }
      }
    });
  }

  // ---------------------------------------------------------------- the Box interface

  async status(): Promise<BoxStatus> {
    const st = this.rec.state();
    const runRow = this.runningRow();
    const prevRow = this.rec.byRole('previous');
    const running = runRow ? this.rec.document(runRow) : null;
    let workloads: WorkloadHealth[] = [];
    if (running) {
      const cached = this.lastWorkloads;
      if (cached && cached.version === running.version && Date.now() - cached.at < 2000)
        workloads = cached.workloads;
      else if (!ACTIVE_STATES.has(st.state)) {
        workloads = await this.p.driver.workloads(running.health.workloads).catch(() => []);
        this.lastWorkloads = { at: Date.now(), version: running.version, workloads };
      }
    }
    const policy = running
      ? { name: running.name, version: running.version, k3sVersion: running.k3s?.version ?? null }
      : null;
    const available: ReleaseSummary[] = [];
    for (const r of this.rec.available())
      if (!running || semver.gt(r.version, running.version)) available.push(await this.summary(r, policy));
    available.sort((a, b) => semver.rcompare(a.version, b.version));
    return {
      running:
        runRow && running
          ? {
              name: running.name,
              version: running.version,
              k3sVersion: running.k3s?.version ?? null,
              installedAt: runRow.installed_at ?? runRow.staged_at,
            }
          : null,
      previous: prevRow ? { name: prevRow.name, version: prevRow.version } : null,
      state: st.state,
      target: st.target_version ? { name: st.target_name ?? '', version: st.target_version } : null,
      progress: st.step ? { step: st.step, done: st.progress_done ?? 0, total: st.progress_total } : null,
      lastError:
        st.error_message &&
        (st.state === 'failed' || st.state === 'rolled-back' || st.state === 'rolling-back')
          ? { code: st.error_code ?? 'UPDATE_ROLLED_BACK', message: st.error_message }
          : null,
      workloads,
      disk: await diskInfo(this.p.statfs, this.p.paths.lib),
      lastCheck: this.rec.getMeta<BoxStatus['lastCheck']>('lastCheck') ?? null,
      available,
      history: this.rec.history(20),
    };
  }

  subscribe(listener: (event: UpdateEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  async check(actor: Actor): Promise<ReleaseSummary[]> {
    try {
      const chan = await this.channel();
      const offers = await chan.refresh();
      this.rec.setAvailable(offers.map((r) => ({ version: r.version, document: canonicalJson(r) })));
      this.rec.setMeta('lastCheck', {
        at: this.now(),
        result: 'ok',
        message: `${offers.length} release(s) on the channel`,
      });
      const st = this.rec.state();
      const policy = await this.runningForPolicy();
      const summaries = await Promise.all(
        offers
          .filter((r) => !policy || semver.gt(r.version, policy.version))
          .sort((a, b) => semver.rcompare(a.version, b.version))
          .map((r) => this.summary(r, policy)),
      );
      if (!ACTIVE_STATES.has(st.state) && st.state !== 'staged' && summaries.some((s) => s.installable))
        this.go({ state: 'available', error_code: null, error_message: null });
      this.rec.audit(actor.user, actor.from, 'check', `${summaries.length} newer release(s)`, 'ok');
      return summaries;
    } catch (e) {
      const err = asDrydockError(e);
      this.rec.setMeta('lastCheck', {
        at: this.now(),
        result: 'error',
        message: `${err.code}: ${err.message}`,
      });
      this.rec.audit(actor.user, actor.from, 'check', `${err.code}: ${err.message}`, 'error');
      throw err;
    }
  }

  download(actor: Actor, version?: string): Promise<void> {
    return this.withLock('download', async () => {
      const abort = new AbortController();
      const done = this.downloadLocked(actor, version, null);
      this.downloading = { abort, done };
      try {
        return await done;
      } finally {
        this.downloading = null;
      }
    });
  }

  async stage(actor: Actor, bundlePath: string): Promise<ReleaseSummary> {
    const release = await this.withLock('stage', () => this.stageLocked(actor, bundlePath));
    return this.summary(release, this.runningPolicy());
  }

  apply(actor: Actor): Promise<HistoryEntry> {
    return this.withLock('apply', () => this.applyLocked(actor));
  }

  install(actor: Actor, bundlePath: string): Promise<HistoryEntry> {
    return this.withLock('install', async () => {
      await this.stageLocked(actor, bundlePath);
      return this.applyLocked(actor);
    });
  }

  async cancel(actor: Actor): Promise<void> {
    const running = this.downloading;
    if (running) {
      // a download of this process: stop it; it records the cancellation itself
      running.abort.abort();
      await running.done.catch(() => {});
      this.rec.audit(actor.user, actor.from, 'cancel', 'stopped the download', 'ok');
      return;
    }
    await this.withLock('cancel', async () => {
      const st = this.rec.state();
      if (st.state !== 'staged' && st.state !== 'available')
        throw new DrydockError('UPDATE_NOT_CANCELLABLE', `nothing to cancel in state ${st.state}`);
      this.go({
        state: 'idle',
        target_name: null,
        target_version: null,
        step: null,
        error_code: null,
        error_message: null,
      });
      this.rec.audit(actor.user, actor.from, 'cancel', `dropped ${st.target_version ?? 'the offer'}`, 'ok');
      await this.pruneNow();
    });
  }

  rollback(actor: Actor): Promise<HistoryEntry> {
    return this.withLock('rollback', () => this.rollbackLocked(actor));
  }

  async history(limit?: number): Promise<HistoryEntry[]> {
    return this.rec.history(limit);
  }

  async audit(limit?: number): Promise<AuditEntry[]> {
    return this.rec.auditEntries(limit);
  }

  async recordAudit(actor: Actor, action: string, detail: string, result: 'ok' | 'error'): Promise<void> {
    this.rec.audit(actor.user, actor.from, action, detail, result);
  }

  async getSettings(): Promise<Settings> {
    return this.rec.settings();
  }

  async putSettings(actor: Actor, patch: Partial<Settings>): Promise<Settings> {
    const valid: SettingsPatch = validateSettings(patch);
    this.p.db.transaction(() => {
      for (const [k, v] of Object.entries(valid)) this.rec.setSetting(k, v);
    })();
    this.rec.audit(
      actor.user,
      actor.from,
      'settings',
      `changed ${Object.keys(valid).join(', ') || 'nothing'}`,
      'ok',
    );
    return this.rec.settings();
  }

  async releaseDocument(version: string): Promise<Release | null> {
    const row = this.rec.releaseRow(version);
    if (row) return this.rec.document(row);
    return this.rec.available().find((r) => r.version === version) ?? null;
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
    if (this.p.db.open) this.p.db.close();
  }

  /** For tests and the bench: the store and records behind the box. */
  get internals(): { store: BlobStore; driver: ClusterDriver; db: Db; state: () => UpdateState } {
    return { store: this.p.store, driver: this.p.driver, db: this.p.db, state: () => this.rec.state().state };
  }
}

export { parseRelease };
