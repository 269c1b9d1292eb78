// The health gate as the steps use it: waits for a release's workloads and probes until its
// deadline, keeping the last workload figures for status() and reporting health progress.
import type { Release } from '../release/index.ts';
import type { EngineContext } from './context.ts';
import { type HealthResult, waitHealthy } from './health.ts';

export function healthGate(ctx: EngineContext, release: Release): Promise<HealthResult> {
  const deadlineAt = ctx.p.clock.now() + release.health.deadlineSeconds * 1000;
  const total = release.health.workloads.length + release.health.probes.length;
  return waitHealthy(ctx.p.driver, release, {
    clock: ctx.p.clock,
    pollMs: ctx.p.config.healthPollMs ?? 250,
    deadlineAt,
    onPoll: (r) => {
      ctx.lastWorkloads = { at: Date.now(), version: release.version, workloads: r.workloads };
      const bad = r.ok ? 0 : Math.max(1, r.reason.split('; ').length);
      ctx.progress('health', Math.max(0, total - bad), total);
    },
  });
}
