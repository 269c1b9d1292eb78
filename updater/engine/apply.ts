// Applying the staged release: preflight, snapshot (when a release runs), the side effects of
// apply, then the health gate; committed, or handed to the rollback step. `applyAndGate` is redone
// as a whole by converge after a crash, so every side effect here is idempotent.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWrite, syncTree } from '../../core/durable.ts';
import { asDrydockError, DrydockError, formatBytes } from '../../core/index.ts';
import type { Release } from '../release/index.ts';
import type { Actor, HistoryEntry } from './api.ts';
import type { EngineContext } from './context.ts';
import { folderBytes, requireSpace } from './disk.ts';
import { healthGate } from './gate.ts';
import { runHook } from './hooks.ts';
import { checkUpdatePolicy, type Running } from './policy.ts';
import type { StateRow } from './records.ts';
import { undo } from './rollback.ts';

export async function applyStaged(ctx: EngineContext, actor: Actor): Promise<HistoryEntry> {
  const { rec } = ctx;
  const st = rec.state();
  if (st.state !== 'staged' || !st.target_version)
    throw new DrydockError('NO_UPDATE', 'no release is staged');
  const row = rec.releaseRow(st.target_version);
  if (!row) throw new DrydockError('NO_UPDATE', `the staged release ${st.target_version} is gone`);
  const release = rec.document(row);
  const running = await ctx.runningForPolicy();
  checkUpdatePolicy(running, release);
  await preflight(ctx, release, running);

  const kind = running ? 'update' : 'install';
  const snapshotId = running ? `${ctx.now().replace(/[:.]/g, '-')}-${release.version}` : null;
  let hid = 0;
  ctx.go(
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
      hid = rec.startHistory({
        from: running?.version ?? null,
        to: release.version,
        kind,
        actor: actor.user,
      });
      rec.writeState({ history_id: hid });
    },
  );
  rec.audit(actor.user, actor.from, 'apply', `${kind} ${running?.version ?? '-'} → ${release.version}`, 'ok');
  if (running && snapshotId) {
    try {
      await ctx.timed(hid, 'snapshot', () => takeSnapshot(ctx, release, snapshotId, hid));
    } catch (e) {
      const err = asDrydockError(e);
      await rm(ctx.p.paths.snapshot(snapshotId), { recursive: true, force: true });
      const reason = `the snapshot before ${release.version} failed, nothing was changed: ${err.message}`;
      ctx.go({ state: 'failed', error_code: err.code, error_message: reason, step: null }, () =>
        rec.finishHistory(hid, 'failed', reason, false),
      );
      await ctx.pruneNow();
      throw new DrydockError(err.code, reason, { cause: err });
    }
    ctx.go({ state: 'applying' });
  }
  return applyAndGate(ctx, rec.state());
}

/** Bytes of the image blobs `release` imports that `running` does not already have. */
function newImageBytes(release: Release, running: Release | null): number {
  const have = new Set(
    (running?.images ?? []).flatMap((i) => [i.manifest, i.config, ...i.layers].map((b) => b.digest)),
  );
  const seen = new Set<string>();
  let total = 0;
  for (const b of release.images.flatMap((i) => [i.manifest, i.config, ...i.layers])) {
    if (have.has(b.digest) || seen.has(b.digest)) continue;
    seen.add(b.digest);
    total += b.size;
  }
  return total;
}

async function lastSnapshotBytes(ctx: EngineContext): Promise<number> {
  const row = ctx.runningRow();
  return row?.snapshot_id ? folderBytes(ctx.p.paths.snapshot(row.snapshot_id)) : 0;
}

async function preflight(ctx: EngineContext, release: Release, running: Running | null): Promise<void> {
  const { p } = ctx;
  const missing = await ctx.missingBlobs(release);
  if (missing.count)
    throw new DrydockError(
      'BLOB_MISSING',
      `${missing.count} blob(s) of ${release.version} are not on the box`,
    );
  // measured, not guessed: the volumes the snapshot will copy (or, with a backup hook, what the
  // last snapshot took), and the image blobs the running release does not already have
  const volumes = release.data?.volumes ?? [];
  const snapshotBytes = running
    ? release.hooks?.backup
      ? await lastSnapshotBytes(ctx)
      : await p.driver.volumeBytes(volumes)
    : 0;
  const imageBytes = newImageBytes(release, running ? ctx.rec.document(ctx.runningRow()!) : null);
  await requireSpace(
    p.statfs,
    p.paths.lib,
    snapshotBytes + imageBytes,
    ctx.margin,
    `the snapshot of ${volumes.length} volume(s) before ${release.version} (${formatBytes(snapshotBytes)}) and its new images (${formatBytes(imageBytes)})`,
  );
  if (!running) return;
  const ping = await p.driver.ping().catch((e: Error) => ({ ok: false, message: e.message }));
  if (!ping.ok)
    throw new DrydockError('CLUSTER_UNAVAILABLE', `the cluster is not answering: ${ping.message}`);
  const runningRelease = ctx.rec.document(ctx.runningRow()!);
  const ws = await p.driver.workloads(runningRelease.health.workloads);
  const bad = ws.filter((w) => !w.ready);
  if (bad.length)
    throw new DrydockError(
      'PREFLIGHT_FAILED',
      `the running release ${running.version} is not healthy, so no update starts: ${bad.map((w) => `${w.namespace}/${w.name}: ${w.message}`).join('; ')}`,
    );
}

async function takeSnapshot(ctx: EngineContext, release: Release, id: string, hid: number): Promise<void> {
  const dir = ctx.p.paths.snapshot(id);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const volumes = release.data?.volumes ?? [];
  const backup = release.hooks?.backup;
  ctx.progress('snapshot', 0, 1);
  if (backup) await runHook(ctx, backup, 'backup');
  else {
    const taken = await ctx.p.driver.snapshot(join(dir, 'data'), volumes);
    // the backend's downtime for a consistent copy, beside the step times in the history
    if (taken.stopped.length) ctx.rec.addStep(hid, 'backend down', taken.downMs);
  }
  ctx.fault('snapshot:data');
  // the copy and its index on disk before the state moves on
  await syncTree(dir);
  await atomicWrite(
    join(dir, 'snapshot.json'),
    JSON.stringify({
      before: release.version,
      by: backup ? `hook ${backup.name}` : 'driver',
      volumes,
      takenAt: ctx.now(),
    }),
  );
  ctx.progress('snapshot', 1, 1);
  ctx.fault('snapshot:taken');
}

/** applying → verifying-health → committed, or → rolling-back. Redone as a whole by converge. */
export async function applyAndGate(ctx: EngineContext, st: StateRow): Promise<HistoryEntry> {
  const { rec } = ctx;
  const hid = st.history_id!;
  const release = ctx.releaseOf(st.target_version!);
  const runningRow = ctx.runningRow();
  const previous = runningRow ? rec.document(runningRow) : null;
  try {
    await ctx.timed(hid, 'apply', () => sideEffectsOfApply(ctx, release, previous));
  } catch (e) {
    const err = asDrydockError(e);
    return undo(ctx, release, previous, 'APPLY_FAILED', `applying ${release.version} failed: ${err.message}`);
  }
  ctx.go({ state: 'verifying-health', step: 'health' });
  const health = await ctx.timed(hid, 'health', () => healthGate(ctx, release));
  if (!health.ok) return undo(ctx, release, previous, 'HEALTH_TIMEOUT', health.reason);

  const at = ctx.now();
  ctx.go(
    {
      state: 'committed',
      step: null,
      progress_done: null,
      progress_total: null,
      error_code: null,
      error_message: null,
    },
    () => {
      const prev = rec.byRole('previous');
      if (prev && prev.version !== release.version) rec.setRole(prev.version, 'retained');
      if (runningRow) rec.setRole(runningRow.version, 'previous', { left_at: at });
      rec.setRole(release.version, 'running', {
        installed_at: at,
        left_at: null,
        snapshot_id: st.snapshot_id,
      });
      rec.finishHistory(hid, 'committed', null, false);
    },
  );
  ctx.fault('commit:prune');
  await ctx.pruneNow();
  ctx.log('info', `${release.version} committed`);
  return rec.historyEntry(hid)!;
}

async function sideEffectsOfApply(
  ctx: EngineContext,
  release: Release,
  previous: Release | null,
): Promise<void> {
  const { p } = ctx;
  if (release.k3s && release.k3s.version !== (previous?.k3s?.version ?? null)) {
    await p.driver.installK3s(p.store.path(release.k3s.binary.digest), release.k3s.version);
    ctx.fault('apply:k3s');
  }
  await p.driver.importImages(release.images, p.store, (done, total) => ctx.progress('import', done, total));
  ctx.fault('apply:images');
  for (const hook of release.hooks?.preApply ?? []) await runHook(ctx, hook, 'pre-apply');
  ctx.fault('apply:pre-hooks');
  ctx.progress('apply', 0, release.manifests.length);
  await p.driver.applyManifests(
    { name: release.name, version: release.version },
    await ctx.rendered(release),
    previous ? await ctx.rendered(previous) : null,
  );
  ctx.progress('apply', release.manifests.length, release.manifests.length);
  ctx.fault('apply:manifests');
  for (const hook of release.hooks?.postApply ?? []) await runHook(ctx, hook, 'post-apply');
  ctx.fault('apply:post-hooks');
}
