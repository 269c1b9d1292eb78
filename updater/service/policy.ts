// Pure decisions of the scheduler, the clock passed in: fleet waves (as Bottlerocket does them) and
// the maintenance window. No I/O here, so the tests drive every edge.
import { randomBytes } from 'node:crypto';
import type { Settings } from '../engine/api.ts';
import { type Db, getMeta, setMeta } from './db.ts';

export interface Wave {
  fraction: number;
  afterHours: number;
}

/**
 * When the box may take a release: a box whose seed (0 ≤ seed < 1, stable per box) is below a wave's
 * fraction belongs to the first such wave (waves sorted by fraction) and may take the release
 * `afterHours` after `createdAt`. A box beyond the last fraction waits for the last wave. No waves:
 * at once. Returns the opening time in ms since the epoch.
 */
export function waveOpensAt(createdAt: string, waves: Wave[] | undefined, seed: number): number {
  const start = Date.parse(createdAt);
  if (Number.isNaN(start)) throw new Error(`createdAt "${createdAt}" is not a date`);
  if (!waves || waves.length === 0) return start;
  const sorted = [...waves].sort((a, b) => a.fraction - b.fraction || a.afterHours - b.afterHours);
  const mine =
    sorted.find((w) => seed < w.fraction) ?? sorted.reduce((a, b) => (b.afterHours > a.afterHours ? b : a));
  return start + mine.afterHours * 3_600_000;
}

export function waveOpen(createdAt: string, waves: Wave[] | undefined, seed: number, now: number): boolean {
  return now >= waveOpensAt(createdAt, waves, seed);
}

/** The box's stable seed in [0, 1): drawn once, kept in state.db, so a box keeps its wave. */
export function boxSeed(
  db: Db,
  random: () => number = () => randomBytes(4).readUInt32BE() / 2 ** 32,
): number {
  const kept = getMeta(db, 'wave_seed');
  if (kept !== null) return Number(kept);
  const seed = random();
  setMeta(db, 'wave_seed', String(seed));
  return Number(getMeta(db, 'wave_seed'));
}

export type Window = NonNullable<Settings['maintenanceWindow']>;

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Plain-words reason why a window is invalid, or null. */
export function windowProblem(w: unknown): string | null {
  if (w === null) return null;
  const win = w as Window;
  if (typeof win !== 'object' || !Array.isArray(win.days))
    return 'the maintenance window needs days, start and end';
  if (win.days.length === 0) return 'the maintenance window needs at least one day';
  for (const d of win.days) if (!DAYS.includes(d)) return `"${d}" is not a day (use ${DAYS.join(', ')})`;
  if (!HHMM.test(win.start)) return `start "${win.start}" is not HH:MM`;
  if (!HHMM.test(win.end)) return `end "${win.end}" is not HH:MM`;
  if (win.start === win.end) return 'start and end of the maintenance window are the same';
  return null;
}

function minutes(hhmm: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new Error(`"${hhmm}" is not HH:MM`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Weekday and minute of the day of `now` in a time zone (the box's local zone by default). */
function localParts(now: number, timeZone?: string): { day: number; minute: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(now));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return {
    day: DAYS.indexOf(get('weekday').toLowerCase().slice(0, 3)),
    minute: Number(get('hour')) * 60 + Number(get('minute')),
  };
}

/**
 * True when `now` lies in the window. A window whose end is before its start runs past midnight,
 * and its days name the day it starts on ("sat 23:00–02:00" includes Sunday 01:00). No window: never.
 */
export function inMaintenanceWindow(win: Window | null, now: number, timeZone?: string): boolean {
  if (!win) return false;
  const { day, minute } = localParts(now, timeZone);
  const start = minutes(win.start);
  const end = minutes(win.end);
  const has = (d: number) => win.days.includes(DAYS[(d + 7) % 7]!);
  if (start < end) return has(day) && minute >= start && minute < end;
  return (has(day) && minute >= start) || (has(day - 1) && minute < end);
}
