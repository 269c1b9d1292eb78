// The scheduler's rounds with the clock passed in: stages only once the wave opened, applies only
// inside the maintenance window, never overlaps an admin's operation.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Actor, ReleaseSummary } from '../../updater/engine/api.ts';
import { Scheduler } from '../../updater/service/index.ts';
import { TestBox } from './helpers.ts';

const H = 3_600_000;
const created = '2026-03-07T00:00:00.000Z'; // a Saturday
const t0 = Date.parse(created);

class ScheduledBox extends TestBox {
  downloads: string[] = [];
  checks = 0;
  offer: ReleaseSummary[] = [];
  override async check(_a: Actor) {
    this.checks++;
    return this.offer;
  }
  override async download(_a: Actor, version?: string) {
    this.downloads.push(version ?? '');
    this.state = 'staged';
  }
}

let scheduler: Scheduler | null = null;
afterEach(() => scheduler?.stop());

function make(box: ScheduledBox, clock: { now: number }, busy = { value: false }) {
  scheduler = new Scheduler({
    box,
    seed: 0.3,
    now: () => clock.now,
    log: pino({ level: 'silent' }),
    timeZone: 'UTC',
    runExclusive: async (_w, fn) => {
      if (busy.value) throw new Error('busy');
      return fn();
    },
  });
  return scheduler;
}

const summary = (version: string, waves?: { fraction: number; afterHours: number }[]): ReleaseSummary => ({
  name: 'demo',
  version,
  channel: 'stable',
  upgradeFrom: '>=1.0.0',
  notes: '',
  downloadBytes: 1,
  totalBytes: 1,
  deadlineSeconds: 20,
  changesData: false,
  installable: true,
  createdAt: created,
  waves,
});

describe('Scheduler.tick', () => {
  it('without a channel it does nothing', async () => {
    const box = new ScheduledBox('/tmp/x');
    const r = await make(box, { now: t0 }).tick();
    expect(r).toEqual({ checked: false, staged: null, applied: false });
    expect(box.checks).toBe(0);
  });

  it('checks; stages only after the box wave opened; autoStage off: only checks', async () => {
    const box = new ScheduledBox('/tmp/x');
    box.settings = { ...box.settings, channelUrl: 'https://updates.example.test/', autoStage: true };
    box.offer = [
      summary('1.1.0', [
        { fraction: 0.1, afterHours: 0 },
        { fraction: 1, afterHours: 24 },
      ]),
    ];
    const clock = { now: t0 + 2 * H };
    const s = make(box, clock);
    expect(await s.tick()).toMatchObject({ checked: true, staged: null });
    expect(box.downloads).toEqual([]);
    clock.now = t0 + 25 * H;
    expect(await s.tick()).toMatchObject({ checked: true, staged: '1.1.0' });
    expect(box.downloads).toEqual(['1.1.0']);

    const quiet = new ScheduledBox('/tmp/y');
    quiet.settings = { ...quiet.settings, channelUrl: 'https://updates.example.test/', autoStage: false };
    quiet.offer = [summary('1.1.0')];
    scheduler?.stop();
    expect(await make(quiet, clock).tick()).toMatchObject({ checked: true, staged: null });
    expect(quiet.checks).toBe(1);
    expect(quiet.downloads).toEqual([]);
  });

  it('applies a staged release only inside the window and only with autoApply', async () => {
    const box = new ScheduledBox('/tmp/x');
    box.applyMs = 1;
    box.state = 'staged';
    box.settings = {
      ...box.settings,
      autoApply: false,
      maintenanceWindow: { days: ['sat'], start: '02:00', end: '04:00' },
    };
    const clock = { now: t0 + 3 * H };
    const s = make(box, clock);
    expect(await s.maybeApply()).toBe(false);
    box.settings.autoApply = true;
    clock.now = t0 + 5 * H;
    expect(await s.maybeApply()).toBe(false);
    expect(box.applies).toBe(0);
    clock.now = t0 + 3 * H;
    expect(await s.maybeApply()).toBe(true);
    expect(box.applies).toBe(1);
  });

  it('never overlaps an operation the admin started', async () => {
    const box = new ScheduledBox('/tmp/x');
    box.state = 'staged';
    box.settings = {
      ...box.settings,
      autoApply: true,
      maintenanceWindow: { days: ['sat'], start: '02:00', end: '04:00' },
    };
    const s = make(box, { now: t0 + 3 * H }, { value: true });
    expect(await s.maybeApply()).toBe(false);
    expect(box.applies).toBe(0);
  });
});
