// The admin page's progress model: what the step list shows for a sequence of service events, and
// what a reloaded page shows from /status alone.
import { describe, expect, it } from 'vitest';
import type { BoxStatus, UpdateEvent } from '../../updater/engine/index.ts';
import { applyEvent, fromStatus, initialLive, isBusy, stepStatuses } from '../../web/src/live.ts';

const at = '2026-11-21T05:00:00.000Z';
const t = { name: 'drydock-demo', version: '1.1.0' };
const state = (s: string, reason?: string): UpdateEvent =>
  ({ type: 'state', state: s, target: t, at, ...(reason ? { reason } : {}) }) as UpdateEvent;
const progress = (step: string, done: number, total: number | null): UpdateEvent =>
  ({ type: 'progress', step, done, total, at }) as UpdateEvent;

function run(events: UpdateEvent[]) {
  return events.reduce(applyEvent, { ...initialLive(), state: 'available' as const });
}

describe('live update progress', () => {
  it('walks download → verify → snapshot → apply → health → committed', () => {
    let l = run([state('downloading'), progress('download', 10, 100)]);
    expect(stepStatuses(l)).toEqual(['active', 'pending', 'pending', 'pending', 'pending']);
    expect(l.steps.download).toEqual({ done: 10, total: 100 });
    expect(isBusy(l.state)).toBe(true);
    l = run([state('downloading'), progress('download', 100, 100), progress('verify', 1, 3)]);
    expect(stepStatuses(l)).toEqual(['done', 'active', 'pending', 'pending', 'pending']);
    l = applyEvent(l, state('staged'));
    expect(stepStatuses(l)).toEqual(['done', 'done', 'pending', 'pending', 'pending']);
    expect(isBusy(l.state)).toBe(false);
    l = [state('snapshotting'), state('applying'), state('verifying-health')].reduce(applyEvent, l);
    expect(stepStatuses(l)).toEqual(['done', 'done', 'done', 'done', 'active']);
    l = applyEvent(l, state('committed'));
    expect(stepStatuses(l)).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(l.operation).toBe('update');
  });

  it('marks the health step failed when the release rolls back by itself, and keeps the reason', () => {
    const why = 'health deadline of 20 s passed: web 0/1 ready';
    const l = run([
      state('downloading'),
      state('staged'),
      state('snapshotting'),
      state('applying'),
      state('verifying-health'),
      state('rolling-back', why),
      state('rolled-back', why),
    ]);
    expect(stepStatuses(l)).toEqual(['done', 'done', 'done', 'done', 'failed']);
    expect(l.reason).toBe(why);
    expect(l.operation).toBe('update');
  });

  it("tells an admin's rollback from an update", () => {
    const l = run([state('rolling-back')]);
    expect(l.operation).toBe('rollback');
    expect(isBusy(l.state)).toBe(true);
  });

  it('a reloaded page rebuilds the same picture from /status', () => {
    const status = {
      state: 'downloading',
      target: t,
      progress: { step: 'download', done: 42, total: 84 },
      lastError: null,
      history: [],
    } as unknown as BoxStatus;
    const l = fromStatus(initialLive(), status);
    expect(l.steps.download).toEqual({ done: 42, total: 84 });
    expect(stepStatuses(l)).toEqual(['active', 'pending', 'pending', 'pending', 'pending']);
    const rb = fromStatus(initialLive(), {
      ...status,
      state: 'rolling-back',
      progress: null,
      history: [{ kind: 'rollback', outcome: 'in-progress' }],
    } as unknown as BoxStatus);
    expect(rb.operation).toBe('rollback');
  });

  it('while the stream is up, a /status read that crosses a newer event does not turn the state back', () => {
    const snap = {
      state: 'staged',
      target: t,
      progress: null,
      lastError: null,
      history: [],
    } as unknown as BoxStatus;
    let l = fromStatus(initialLive(), snap, true);
    l = applyEvent(l, state('verifying-health'));
    const older = { ...snap, state: 'applying' } as unknown as BoxStatus;
    expect(fromStatus(l, older).state).toBe('verifying-health');
    // after the stream dropped, /status is the freshest there is
    const dropped = { ...l, dropped: true, streamed: false };
    expect(fromStatus(dropped, older).state).toBe('applying');
  });
});
