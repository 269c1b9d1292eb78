// Going back: the automatic undo of a failed update and the admin's explicit rollback share one
// path, `restoreAndGate`: the earlier release's k3s, images and manifests back, the data snapshot
// restored when data-plan.ts says so (by default whenever the release being left ran against
// volumes; the admin chooses on an explicit rollback), then its health gate.
import { join } from 'node:path';
import { asDrydockError, DrydockError, type ErrorCode } from '../../core/index.ts';
import type { Release } from '../release/index.ts';
import type { Actor, HistoryEntry } from './api.ts';
import type { EngineContext } from './context.ts';
import { type DataAction, dataPlan, defaultDataAction, type RollbackPlan } from './data-plan.ts';
import { healthGate } from './gate.ts';
import { runHook } from './hooks.ts';
import type { StateRow } from './records.ts';

type Restored = { ok: true } | { ok: false; failedAt: 'restore' | 'health'; message: string };

/**
 * Puts `to` back in place of `from` (k3s, images, manifests, then the data snapshot `restoreFrom`
 * when given) and waits for `to` to be healthy; timed as the history's "rollback" step.
 */
async function restoreAndGate(
  ctx: EngineContext,
  hid: number,
  to: Release,
  from: Release,
  restoreFrom: string | null,
): Promise<Restored> {
  return ctx.timed(hid, 'rollback', async (): Promise<Restored> => {
    try {
      await restoreTo(ctx, to, from, restoreFrom);
    } catch (e) {
      return { ok: false, failedAt: 'restore', message: asDrydockError(e).message };
    }
    const h = await healthGate(ctx, to);
    return h.ok ? { ok: true } : { ok: false, failedAt: 'health', message: h.reason };
  });
}

async function restoreTo(
  ctx: EngineContext,
  to: Release,
  from: Release,
  snapshotId: string | null,
): Promise<void> {
  const { p } = ctx;
  if (to.k3s && to.k3s.version !== (from.k3s?.version ?? null))
    await p.driver.installK3s(p.store.path(to.k3s.binary.digest), to.k3s.version);
  await p.driver.importImages(to.images, p.store, (done, total) => ctx.progress('restore', done, total));
  ctx.fault('rollback:images');
  await p.driver.applyManifests(
    { name: to.name, version: to.version },
    await ctx.rendered(to),
    await ctx.rendered(from).catch(() => null),
  );
  ctx.fault('rollback:manifests');
  if (snapshotId) {
    const hook = from.hooks?.restore;
    if (hook) await runHook(ctx, hook, 'restore');
    else await p.driver.restore(join(ctx.p.paths.snapshot(snapshotId), 'data'), from.data?.volumes ?? []);
    ctx.fault('rollback:restore');
  }
}

/** The new release failed (apply or health): back to the previous one, data too if it changed data. */
export async function undo(
  ctx: EngineContext,
  release: Release,
  previous: Release | null,
  code: Extract<ErrorCode, 'APPLY_FAILED' | 'HEALTH_TIMEOUT'>,
  reason: string,
): Promise<HistoryEntry> {
  const st = ctx.go({ state: 'rolling-back', error_code: code, error_message: reason, automatic: 1 });
  ctx.log('warn', `rolling back from ${release.version}: ${reason}`);
  return finishUndo(ctx, st, release, previous);
}

/** The rest of `undo`, also what converge runs when a crash interrupted it. */
export async function finishUndo(
  ctx: EngineContext,
  st: StateRow,
  release: Release,
  previous: Release | null,
): Promise<HistoryEntry> {
  const { rec } = ctx;
  const hid = st.history_id!;
  const reason = st.error_message ?? 'the update did not complete';
  let outcomeReason = previous
    ? `rolled back to ${previous.version}: ${reason}`
    : `first install of ${release.version} failed and was removed: ${reason}`;
  if (previous) {
    const restore = st.snapshot_id && defaultDataAction(release) === 'restore' ? st.snapshot_id : null;
    outcomeReason += restore ? '; data restored from the snapshot before the update' : '';
    const r = await restoreAndGate(ctx, hid, previous, release, restore);
    if (!r.ok)
      outcomeReason +=
        r.failedAt === 'health'
          ? `; ${previous.version} did not become healthy again: ${r.message}`
          : `; restoring failed: ${r.message}`;
  } else {
    // a first install has nothing to go back to: its objects are removed
    try {
      await ctx.timed(hid, 'rollback', async () =>
        ctx.p.driver.applyManifests(
          { name: release.name, version: release.version },
          [],
          await ctx.rendered(release),
        ),
      );
    } catch (e) {
      outcomeReason += `; restoring failed: ${asDrydockError(e).message}`;
    }
  }
  ctx.go(
    {
      state: previous ? 'rolled-back' : 'failed',
      step: null,
      progress_done: null,
      progress_total: null,
      error_message: outcomeReason,
    },
    () => {
      rec.finishHistory(hid, previous ? 'rolled-back' : 'failed', outcomeReason, true);
      const row = rec.releaseRow(release.version);
      if (row?.role === 'staged') rec.deleteRelease(release.version);
    },
  );
  await ctx.pruneNow();
  return rec.historyEntry(hid)!;
}

/** The explicit rollback's target and what it would do with the data (for the page and the CLI). */
export async function rollbackPlan(ctx: EngineContext): Promise<RollbackPlan | null> {
  const runRow = ctx.runningRow();
  const prevRow = ctx.rec.byRole('previous');
  if (!runRow || !prevRow) return null;
  const id = runRow.snapshot_id;
  const plan = await dataPlan(ctx.rec.document(runRow), id ? ctx.p.paths.snapshot(id) : null, id);
  return { from: runRow.version, to: prevRow.version, data: plan };
}

/** The admin's rollback: back to the retained previous release, data as chosen (default: data-plan.ts). */
export async function rollbackToPrevious(
  ctx: EngineContext,
  actor: Actor,
  opts: { data?: DataAction } = {},
): Promise<HistoryEntry> {
  const { rec } = ctx;
  ctx.requireNotActive();
  const runRow = ctx.runningRow();
  if (!runRow) throw new DrydockError('BOX_NOT_INITIALISED', 'no release is running');
  const prevRow = rec.byRole('previous');
  if (!prevRow)
    throw new DrydockError(
      'NO_PREVIOUS_RELEASE',
      `no previous release is retained to go back to from ${runRow.version}`,
    );
  const prev = rec.document(prevRow);
  const plan = (await rollbackPlan(ctx))!.data;
  const action = opts.data ?? plan.default;
  if (action === 'restore' && !plan.snapshot)
    throw new DrydockError(
      'NOT_FOUND',
      `there is no data snapshot from before ${runRow.version} to restore; roll back keeping the data`,
    );
  const missing = await ctx.missingBlobs(prev);
  if (missing.count)
    throw new DrydockError('BLOB_MISSING', `${missing.count} blob(s) of ${prev.version} are missing`);
  let hid = 0;
  const st = ctx.go(
    {
      state: 'rolling-back',
      kind: 'rollback',
      source: null,
      target_name: prev.name,
      target_version: prev.version,
      from_version: runRow.version,
      // the snapshot to put back, or none: what finishRollback (and converge after a crash) does
      snapshot_id: action === 'restore' ? runRow.snapshot_id : null,
      automatic: 0,
      error_code: null,
      error_message: null,
    },
    () => {
      hid = rec.startHistory({ from: runRow.version, to: prev.version, kind: 'rollback', actor: actor.user });
      rec.writeState({ history_id: hid });
    },
  );
  rec.audit(
    actor.user,
    actor.from,
    'rollback',
    `${runRow.version} → ${prev.version}, ${plan.words[action]}`,
    'ok',
  );
  return finishRollback(ctx, st, actor.user);
}

/** The rest of an explicit rollback, also what converge runs when a crash interrupted it. */
export async function finishRollback(ctx: EngineContext, st: StateRow, user: string): Promise<HistoryEntry> {
  const { rec } = ctx;
  const hid = st.history_id!;
  const from = ctx.releaseOf(st.from_version!);
  const to = ctx.releaseOf(st.target_version!);
  const requester = rec.historyEntry(hid)?.actor ?? user;
  let reason = `rolled back from ${from.version} to ${to.version} at the request of ${requester}${user === 'converge' ? ' (finished after the updater restarted)' : ''}; ${st.snapshot_id ? 'data restored from the snapshot before the update' : 'data kept'}`;
  const r = await restoreAndGate(ctx, hid, to, from, st.snapshot_id);
  const outcome: HistoryEntry['outcome'] = r.ok ? 'rolled-back' : 'failed';
  if (!r.ok)
    reason +=
      r.failedAt === 'health' ? `; ${to.version} did not become healthy: ${r.message}` : `; ${r.message}`;
  const at = ctx.now();
  // the manifests now are those of `to`: it is the running release whatever its health
  ctx.go(
    {
      state: outcome === 'failed' ? 'failed' : 'rolled-back',
      step: null,
      progress_done: null,
      progress_total: null,
      error_code: outcome === 'failed' ? 'UPDATE_ROLLED_BACK' : null,
      error_message: outcome === 'failed' ? reason : null,
    },
    () => {
      rec.setRole(from.version, 'previous', { left_at: at });
      rec.setRole(to.version, 'running', { installed_at: at, left_at: null });
      rec.finishHistory(hid, outcome, reason, false);
    },
  );
  await ctx.pruneNow();
  return rec.historyEntry(hid)!;
}
