// Convergence: every open finishes or undoes what a crash interrupted, from the state row alone.
// Each active state of machine.ts has one way out here; a no-op when another live process holds
// the update lock.
import { mkdir, rm } from 'node:fs/promises';
import { DrydockError } from '../../core/index.ts';
import { applyAndGate } from './apply.ts';
import type { EngineContext } from './context.ts';
import { downloadRelease } from './download.ts';
import { lockHolder } from './lock.ts';
import { ACTIVE_STATES } from './machine.ts';
import { finishRollback, finishUndo } from './rollback.ts';

export async function converge(ctx: EngineContext): Promise<void> {
  const { p, rec } = ctx;
  const holder = lockHolder(p.db);
  if (holder?.alive) return;
  const st = rec.state();
  const actor = { user: 'converge', from: 'local' };
  if (!ACTIVE_STATES.has(st.state)) {
    if (holder) p.db.prepare('DELETE FROM update_lock WHERE id = 1').run();
    await ctx.pruneNow();
    return;
  }
  ctx.log('warn', `an update was interrupted while ${st.state}; converging`);
  await ctx.withLock('converge', async () => {
    switch (st.state) {
      case 'downloading': {
        if (st.source === 'channel' && st.target_version && rec.settings().channelUrl) {
          try {
            await downloadRelease(ctx, actor, undefined, st);
            return;
          } catch {
            return; // recorded as failed by downloadRelease; what arrived stays for the next try
          }
        }
        const reason = 'staging was interrupted; the partial release was removed and nothing else changed';
        ctx.go({ state: 'failed', step: null, error_code: 'UPDATE_CANCELLED', error_message: reason }, () => {
          if (st.target_version) {
            const id = rec.startHistory({
              from: st.from_version,
              to: st.target_version,
              kind: st.from_version ? 'update' : 'install',
              actor: 'converge',
            });
            rec.finishHistory(id, 'failed', reason, true);
          }
        });
        await ctx.pruneNow();
        await rm(`${p.store.dir}/tmp`, { recursive: true, force: true });
        await mkdir(`${p.store.dir}/tmp`, { recursive: true });
        return;
      }
      case 'snapshotting': {
        const reason = 'the updater stopped while taking the snapshot; nothing was changed';
        if (st.snapshot_id) await rm(p.paths.snapshot(st.snapshot_id), { recursive: true, force: true });
        ctx.go({ state: 'failed', step: null, error_code: 'UPDATE_CANCELLED', error_message: reason }, () => {
          if (st.history_id) rec.finishHistory(st.history_id, 'failed', reason, true);
        });
        await ctx.pruneNow();
        return;
      }
      case 'applying':
      case 'verifying-health': {
        // finish the update: redo the (idempotent) apply, then a full health wait
        ctx.go({ state: 'applying' });
        await applyAndGate(ctx, rec.state());
        return;
      }
      case 'rolling-back': {
        if (st.kind === 'rollback') await finishRollback(ctx, st, 'converge');
        else {
          const runningRow = ctx.runningRow();
          await finishUndo(
            ctx,
            st,
            ctx.releaseOf(st.target_version!),
            runningRow ? rec.document(runningRow) : null,
          );
        }
        return;
      }
      default:
        // a state marked active in machine.ts must have a way out here
        throw new DrydockError('INTERNAL', `converge has no way out of the active state ${st.state}`);
    }
  });
}
