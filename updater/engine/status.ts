// What the box says about itself: status() for the page and the CLI, and check() against the
// channel (which may move a resting box to "available").
import semver from 'semver';
import { asDrydockError } from '../../core/index.ts';
import { canonicalJson } from '../release/index.ts';
import type { Actor, BoxStatus, ReleaseSummary, WorkloadHealth } from './api.ts';
import type { EngineContext } from './context.ts';
import { diskInfo } from './disk.ts';
import { openChannel } from './download.ts';
import { ACTIVE_STATES } from './machine.ts';

export async function boxStatus(ctx: EngineContext): Promise<BoxStatus> {
  const { p, rec } = ctx;
  const st = rec.state();
  const runRow = ctx.runningRow();
  const prevRow = rec.byRole('previous');
  const running = runRow ? rec.document(runRow) : null;
  let workloads: WorkloadHealth[] = [];
  if (running) {
    const cached = ctx.lastWorkloads;
    if (cached && cached.version === running.version && Date.now() - cached.at < 2000)
      workloads = cached.workloads;
    else if (!ACTIVE_STATES.has(st.state)) {
      workloads = await p.driver.workloads(running.health.workloads).catch(() => []);
      ctx.lastWorkloads = { at: Date.now(), version: running.version, workloads };
    }
  }
  const policy = running
    ? { name: running.name, version: running.version, k3sVersion: running.k3s?.version ?? null }
    : null;
  const available: ReleaseSummary[] = [];
  for (const r of rec.available())
    if (!running || semver.gt(r.version, running.version)) available.push(await ctx.summary(r, policy));
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
      st.error_message && (st.state === 'failed' || st.state === 'rolled-back' || st.state === 'rolling-back')
        ? { code: st.error_code ?? 'UPDATE_ROLLED_BACK', message: st.error_message }
        : null,
    workloads,
    disk: await diskInfo(p.statfs, p.paths.lib),
    lastCheck: rec.getMeta<BoxStatus['lastCheck']>('lastCheck') ?? null,
    available,
    history: rec.history(20),
  };
}

export async function checkChannel(ctx: EngineContext, actor: Actor): Promise<ReleaseSummary[]> {
  const { rec } = ctx;
  try {
    const chan = await openChannel(ctx);
    const offers = await chan.refresh();
    rec.setAvailable(offers.map((r) => ({ version: r.version, document: canonicalJson(r) })));
    rec.setMeta('lastCheck', {
      at: ctx.now(),
      result: 'ok',
      message: `${offers.length} release(s) on the channel`,
    });
    const st = rec.state();
    const policy = await ctx.runningForPolicy();
    const summaries = await Promise.all(
      offers
        .filter((r) => !policy || semver.gt(r.version, policy.version))
        .sort((a, b) => semver.rcompare(a.version, b.version))
        .map((r) => ctx.summary(r, policy)),
    );
    if (!ACTIVE_STATES.has(st.state) && st.state !== 'staged' && summaries.some((s) => s.installable))
      ctx.go({ state: 'available', error_code: null, error_message: null });
    rec.audit(actor.user, actor.from, 'check', `${summaries.length} newer release(s)`, 'ok');
    return summaries;
  } catch (e) {
    const err = asDrydockError(e);
    rec.setMeta('lastCheck', { at: ctx.now(), result: 'error', message: `${err.code}: ${err.message}` });
    rec.audit(actor.user, actor.from, 'check', `${err.code}: ${err.message}`, 'error');
    throw err;
  }
}
