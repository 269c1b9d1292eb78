// The scheduler's pure decisions with the clock passed in: fleet waves and the maintenance window.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReleaseSummary } from '../../updater/engine/api.ts';
import {
  boxSeed,
  inMaintenanceWindow,
  openServiceDatabase,
  pickRelease,
  waveOpen,
  waveOpensAt,
  windowProblem,
} from '../../updater/service/index.ts';

const created = '2026-03-01T00:00:00.000Z';
const H = 3_600_000;
const t0 = Date.parse(created);
const waves = [
  { fraction: 0.1, afterHours: 0 },
  { fraction: 0.5, afterHours: 24 },
  { fraction: 1, afterHours: 72 },
];

describe('fleet waves', () => {
  it('no waves: open at once', () => {
    expect(waveOpensAt(created, undefined, 0.99)).toBe(t0);
    expect(waveOpensAt(created, [], 0.5)).toBe(t0);
  });

  it('a box belongs to the first wave whose fraction is above its seed', () => {
    expect(waveOpensAt(created, waves, 0)).toBe(t0);
    expect(waveOpensAt(created, waves, 0.0999)).toBe(t0);
    expect(waveOpensAt(created, waves, 0.1)).toBe(t0 + 24 * H);
    expect(waveOpensAt(created, waves, 0.4999)).toBe(t0 + 24 * H);
    expect(waveOpensAt(created, waves, 0.5)).toBe(t0 + 72 * H);
    expect(waveOpensAt(created, waves, 0.9999)).toBe(t0 + 72 * H);
  });

  it('order of the waves in the release does not matter; beyond the last fraction waits for the last wave', () => {
    const shuffled = [waves[2]!, waves[0]!, waves[1]!];
    expect(waveOpensAt(created, shuffled, 0.3)).toBe(t0 + 24 * H);
    expect(
      waveOpensAt(
        created,
        [
          { fraction: 0.2, afterHours: 5 },
          { fraction: 0.6, afterHours: 10 },
        ],
        0.9,
      ),
    ).toBe(t0 + 10 * H);
  });

  it('waveOpen at the edge', () => {
    expect(waveOpen(created, waves, 0.3, t0 + 24 * H - 1)).toBe(false);
    expect(waveOpen(created, waves, 0.3, t0 + 24 * H)).toBe(true);
  });

  it('the seed is drawn once and kept in state.db', async () => {
    const root = await mkdtemp(join(tmpdir(), 'drydock-seed-'));
    try {
      const db = openServiceDatabase(root);
      expect(boxSeed(db, () => 0.42)).toBe(0.42);
      expect(boxSeed(db, () => 0.99)).toBe(0.42);
      db.close();
      const again = openServiceDatabase(root);
      expect(boxSeed(again)).toBe(0.42);
      again.close();
      const other = await mkdtemp(join(tmpdir(), 'drydock-seed-'));
      const db2 = openServiceDatabase(other);
      const s = boxSeed(db2);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThan(1);
      db2.close();
      await rm(other, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    } finally {
      await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });
});

const rel = (version: string, extra: Partial<ReleaseSummary> = {}): ReleaseSummary => ({
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
  ...extra,
});

describe('pickRelease', () => {
  it('newest installable whose wave opened', () => {
    const list = [
      rel('1.1.0'),
      rel('1.3.0', { installable: false, reason: 'downgrade' }),
      rel('1.2.0', { waves: [{ fraction: 1, afterHours: 48 }] }),
      rel('1.10.0', {
        waves: [
          { fraction: 0.2, afterHours: 0 },
          { fraction: 1, afterHours: 24 },
        ],
      }),
    ];
    expect(pickRelease(list, 0.5, t0 + 1 * H)?.version).toBe('1.1.0');
    expect(pickRelease(list, 0.1, t0 + 1 * H)?.version).toBe('1.10.0');
    expect(pickRelease(list, 0.5, t0 + 30 * H)?.version).toBe('1.10.0');
    expect(pickRelease([rel('1.2.0', { installable: false })], 0, t0)).toBeNull();
  });
});

describe('maintenance window (box local time, here UTC)', () => {
  const at = (iso: string) => Date.parse(iso);
  // 2026-03-07 is a Saturday
  const win = { days: ['sat', 'sun'], start: '02:00', end: '05:00' };

  it('inside and outside a same-day window, end excluded', () => {
    expect(inMaintenanceWindow(win, at('2026-03-07T01:59:00Z'), 'UTC')).toBe(false);
    expect(inMaintenanceWindow(win, at('2026-03-07T02:00:00Z'), 'UTC')).toBe(true);
    expect(inMaintenanceWindow(win, at('2026-03-08T04:59:00Z'), 'UTC')).toBe(true);
    expect(inMaintenanceWindow(win, at('2026-03-08T05:00:00Z'), 'UTC')).toBe(false);
    expect(inMaintenanceWindow(win, at('2026-03-09T03:00:00Z'), 'UTC')).toBe(false);
  });

  it('a window past midnight belongs to the day it starts', () => {
    const night = { days: ['fri'], start: '23:00', end: '02:00' };
    expect(inMaintenanceWindow(night, at('2026-03-06T23:30:00Z'), 'UTC')).toBe(true);
    expect(inMaintenanceWindow(night, at('2026-03-07T01:30:00Z'), 'UTC')).toBe(true);
    expect(inMaintenanceWindow(night, at('2026-03-07T02:00:00Z'), 'UTC')).toBe(false);
    expect(inMaintenanceWindow(night, at('2026-03-07T23:30:00Z'), 'UTC')).toBe(false);
    expect(inMaintenanceWindow(night, at('2026-03-06T01:30:00Z'), 'UTC')).toBe(false);
  });

  it('time zones: the same instant is in or out depending on the box zone', () => {
    const w = { days: ['sat'], start: '02:00', end: '03:00' };
    expect(inMaintenanceWindow(w, at('2026-03-07T01:30:00Z'), 'Europe/Berlin')).toBe(true);
    expect(inMaintenanceWindow(w, at('2026-03-07T01:30:00Z'), 'UTC')).toBe(false);
  });

  it('no window: never', () => {
    expect(inMaintenanceWindow(null, Date.now())).toBe(false);
  });

  it('windowProblem names what is wrong', () => {
    expect(windowProblem(win)).toBeNull();
    expect(windowProblem({ days: [], start: '02:00', end: '03:00' })).toMatch(/at least one day/);
    expect(windowProblem({ days: ['caturday'], start: '02:00', end: '03:00' })).toMatch(/not a day/);
    expect(windowProblem({ days: ['sat'], start: '2:00', end: '03:00' })).toMatch(/HH:MM/);
    expect(windowProblem({ days: ['sat'], start: '24:00', end: '03:00' })).toMatch(/HH:MM/);
    expect(windowProblem({ days: ['sat'], start: '03:00', end: '03:00' })).toMatch(/same/);
  });
});
