// The health gate: every workload of the release rolled out at its new generation and ready, and
// every HTTP probe answering, before the deadline. Polls the cluster driver; explains a failure in
// plain words.
import type { ClusterDriver } from '../cluster/index.ts';
import type { Release } from '../release/index.ts';
import type { WorkloadHealth } from './api.ts';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export interface HealthResult {
  ok: boolean;
  workloads: WorkloadHealth[];
  /** plain words when not ok */
  reason: string;
}

async function checkOnce(driver: ClusterDriver, release: Release): Promise<HealthResult> {
  // side by side: a poll costs the slower of the two, not their sum
  const [workloads, probes] = await Promise.all([
    release.health.workloads.length ? driver.workloads(release.health.workloads) : [],
    Promise.all(release.health.probes.map(async (p) => ({ name: p.name, ...(await driver.probe(p)) }))),
  ]);
  const bad = [
    ...workloads
      .filter((w) => !w.ready)
      .map((w) => `${w.kind.toLowerCase()} ${w.namespace}/${w.name}: ${w.message}`),
    ...probes.filter((p) => !p.ok).map((p) => `probe ${p.name}: ${p.message}`),
  ];
  return { ok: bad.length === 0, workloads, reason: bad.join('; ') };
}

/** Polls until healthy or the deadline (ms since epoch on `clock`) passes. */
export async function waitHealthy(
  driver: ClusterDriver,
  release: Release,
  opts: { clock: Clock; pollMs: number; deadlineAt: number; onPoll?: (r: HealthResult) => void },
): Promise<HealthResult> {
  const seconds = release.health.deadlineSeconds;
  for (;;) {
    let r: HealthResult;
    try {
      r = await checkOnce(driver, release);
    } catch (e) {
      r = { ok: false, workloads: [], reason: `cluster did not answer: ${(e as Error).message}` };
    }
    opts.onPoll?.(r);
    if (r.ok) return r;
    const left = opts.deadlineAt - opts.clock.now();
    if (left <= 0)
      return { ...r, reason: `health deadline of ${seconds} s passed: ${r.reason || 'not ready'}` };
    await opts.clock.sleep(Math.min(opts.pollMs, left));
  }
}
