// Typed access to the engine's rows. Every state transition goes through `transition`, one
// immediate transaction that may carry extra writes (history, release roles) with it.
import type { Release } from '../release/index.ts';
import { parseRelease } from '../release/index.ts';
import type { AuditEntry, HistoryEntry, ProgressStep, Settings, UpdateState } from './api.ts';
import type { Db } from './db.ts';
import { requireTransition } from './machine.ts';

export interface StateRow {
  state: UpdateState;
  kind: 'install' | 'update' | 'rollback' | null;
  target_name: string | null;
  target_version: string | null;
  from_version: string | null;
  source: 'bundle' | 'channel' | null;
  step: ProgressStep | null;
  progress_done: number | null;
  progress_total: number | null;
  error_code: string | null;
  error_message: string | null;
  history_id: number | null;
  snapshot_id: string | null;
  automatic: number;
  updated_at: string;
}

export type Role = 'running' | 'previous' | 'retained' | 'staged';

export interface ReleaseRow {
  version: string;
  name: string;
  document: string;
  role: Role;
  staged_at: string;
  installed_at: string | null;
  left_at: string | null;
  snapshot_id: string | null;
}

interface HistoryRow {
  id: number;
  from_version: string | null;
  to_version: string;
  kind: HistoryEntry['kind'];
  outcome: HistoryEntry['outcome'];
  reason: string | null;
  automatic: number;
  started_at: string;
  finished_at: string | null;
  actor: string;
  steps: string;
}

const STATE_COLUMNS = [
  'state',
  'kind',
  'target_name',
  'target_version',
  'from_version',
  'source',
  'step',
  'progress_done',
  'progress_total',
  'error_code',
  'error_message',
  'history_id',
  'snapshot_id',
  'automatic',
] as const;

export type StatePatch = Partial<Omit<StateRow, 'updated_at'>>;

export class Records {
  constructor(readonly db: Db) {}

  state(): StateRow {
    return this.db.prepare('SELECT * FROM update_state WHERE id = 1').get() as StateRow;
  }

  /**
   * Writes the state row (and `also`) in one immediate transaction; returns the new row. A state
   * change the machine table does not allow throws ILLEGAL_TRANSITION and writes nothing.
   */
  transition(patch: StatePatch, also?: () => void): StateRow {
    return this.db
      .transaction(() => {
        if (patch.state !== undefined) requireTransition(this.state().state, patch.state);
        this.writeState(patch);
        also?.();
        return this.state();
      })
      .immediate();
  }

  writeState(patch: StatePatch): void {
    const keys = STATE_COLUMNS.filter((k) => k in patch);
    const sets = [...keys.map((k) => `${k} = @${k}`), 'updated_at = @updated_at'];
    this.db
      .prepare(`UPDATE update_state SET ${sets.join(', ')} WHERE id = 1`)
      .run({ ...patch, updated_at: new Date().toISOString() });
  }

  /** Progress is written without ceremony (it is advisory, for a client that reconnects). */
  progress(step: ProgressStep, done: number, total: number | null): void {
    this.db
      .prepare('UPDATE update_state SET step = ?, progress_done = ?, progress_total = ? WHERE id = 1')
      .run(step, done, total);
  }

  // releases
  releaseRow(version: string): ReleaseRow | null {
    return (this.db.prepare('SELECT * FROM releases WHERE version = ?').get(version) as ReleaseRow) ?? null;
  }
  byRole(role: Role): ReleaseRow | null {
    return (
      (this.db
        .prepare('SELECT * FROM releases WHERE role = ? ORDER BY COALESCE(left_at, staged_at) DESC LIMIT 1')
        .get(role) as ReleaseRow) ?? null
    );
  }
  releases(): ReleaseRow[] {
    return this.db
      .prepare('SELECT * FROM releases ORDER BY COALESCE(left_at, installed_at, staged_at) DESC')
      .all() as ReleaseRow[];
  }
  document(row: ReleaseRow): Release {
    return parseRelease(JSON.parse(row.document));
  }
  putStaged(release: Release, document: string): void {
    // one staged release at a time; a retained release staged again keeps its role (the state row names the target)
    this.db.prepare("DELETE FROM releases WHERE role = 'staged' AND version <> ?").run(release.version);
    this.db
      .prepare(
        `INSERT INTO releases (version, name, document, role, staged_at) VALUES (?, ?, ?, 'staged', ?)
         ON CONFLICT(version) DO UPDATE SET document = excluded.document`,
      )
      .run(release.version, release.name, document, new Date().toISOString());
  }
  setRole(
    version: string,
    role: Role,
    extra: Partial<Pick<ReleaseRow, 'installed_at' | 'left_at' | 'snapshot_id'>> = {},
  ): void {
    const sets = ['role = @role', ...Object.keys(extra).map((k) => `${k} = @${k}`)];
    this.db
      .prepare(`UPDATE releases SET ${sets.join(', ')} WHERE version = @version`)
      .run({ version, role, ...extra });
  }
  deleteRelease(version: string): void {
    this.db.prepare('DELETE FROM releases WHERE version = ?').run(version);
  }

  // history
  startHistory(h: { from: string | null; to: string; kind: HistoryEntry['kind']; actor: string }): number {
    const r = this.db
      .prepare(
        `INSERT INTO history (from_version, to_version, kind, outcome, started_at, actor)
         VALUES (?, ?, ?, 'in-progress', ?, ?)`,
      )
      .run(h.from, h.to, h.kind, new Date().toISOString(), h.actor);
    return Number(r.lastInsertRowid);
  }
  finishHistory(
    id: number,
    outcome: HistoryEntry['outcome'],
    reason: string | null,
    automatic: boolean,
  ): void {
    this.db
      .prepare('UPDATE history SET outcome = ?, reason = ?, automatic = ?, finished_at = ? WHERE id = ?')
      .run(outcome, reason, automatic ? 1 : 0, new Date().toISOString(), id);
  }
  addStep(id: number, step: string, ms: number): void {
    const row = this.db.prepare('SELECT steps FROM history WHERE id = ?').get(id) as
      | { steps: string }
      | undefined;
    if (!row) return;
    const steps = JSON.parse(row.steps) as Record<string, number>;
    steps[step] = (steps[step] ?? 0) + Math.round(ms);
    this.db.prepare('UPDATE history SET steps = ? WHERE id = ?').run(JSON.stringify(steps), id);
  }
  history(limit = 50): HistoryEntry[] {
    const rows = this.db.prepare('SELECT * FROM history ORDER BY id DESC LIMIT ?').all(limit) as HistoryRow[];
    return rows.map(toHistory);
  }
  historyEntry(id: number): HistoryEntry | null {
    const row = this.db.prepare('SELECT * FROM history WHERE id = ?').get(id) as HistoryRow | undefined;
    return row ? toHistory(row) : null;
  }

  // audit
  audit(user: string, from: string, action: string, detail: string, result: 'ok' | 'error'): void {
    this.db
      .prepare('INSERT INTO audit (at, user, from_addr, action, detail, result) VALUES (?, ?, ?, ?, ?, ?)')
      .run(new Date().toISOString(), user, from, action, detail, result);
  }
  auditEntries(limit = 100): AuditEntry[] {
    return (
      this.db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit) as (Omit<
        AuditEntry,
        'from'
      > & {
        from_addr: string;
      })[]
    ).map(({ from_addr, ...rest }) => ({ ...rest, from: from_addr }));
  }

  // settings and meta (JSON values)
  getSetting<T>(key: string): T | undefined {
    const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as
      | { value: string }
      | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }
  setSetting(key: string, value: unknown, onlyIfMissing = false): void {
    this.db
      .prepare(
        onlyIfMissing
          ? 'INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)'
          : 'INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)',
      )
      .run(key, JSON.stringify(value));
  }
  settings(): Settings {
    return {
      channelUrl: this.getSetting<string | null>('channelUrl') ?? null,
      checkSchedule: this.getSetting<string>('checkSchedule') ?? '0 3 * * *',
      autoStage: this.getSetting<boolean>('autoStage') ?? true,
      autoApply: this.getSetting<boolean>('autoApply') ?? false,
      maintenanceWindow: this.getSetting<Settings['maintenanceWindow']>('maintenanceWindow') ?? null,
    };
  }
  getMeta<T>(key: string): T | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      | { value: string }
      | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }
  setMeta(key: string, value: unknown): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, JSON.stringify(value));
  }

  // channel offers
  setAvailable(docs: { version: string; document: string }[]): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM available').run();
      const ins = this.db.prepare('INSERT INTO available (version, document, seen_at) VALUES (?, ?, ?)');
      for (const d of docs) ins.run(d.version, d.document, new Date().toISOString());
    })();
  }
  available(): Release[] {
    return (this.db.prepare('SELECT document FROM available').all() as { document: string }[]).map((r) =>
      parseRelease(JSON.parse(r.document)),
    );
  }
}

function toHistory(r: HistoryRow): HistoryEntry {
  return {
    id: r.id,
    fromVersion: r.from_version,
    toVersion: r.to_version,
    kind: r.kind,
    outcome: r.outcome,
    reason: r.reason,
    automatic: r.automatic === 1,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    actor: r.actor,
    steps: JSON.parse(r.steps) as Record<string, number>,
  };
}
