// The update lock: a row in state.db naming the process that holds it (pid, boot id, process start
// time). It survives a crash of its holder, and is stale (taken over) once that process is gone:
// another boot, no such pid, or a pid reused by a process that started at another time.
import { readFileSync } from 'node:fs';
import { DrydockError, readProcStat } from '../../core/index.ts';
import type { Db } from './db.ts';

interface ProcessIdentity {
  pid: number;
  bootId: string;
  startTime: string;
}

export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

/** Start time of a process in clock ticks since boot (core/proc.ts), as stored in the lock row; null if gone. */
export function processStartTime(pid: number): string | null {
  const stat = readProcStat(pid);
  return stat ? String(stat.startTicks) : null;
}

function selfIdentity(): ProcessIdentity {
  return { pid: process.pid, bootId: bootId(), startTime: processStartTime(process.pid) ?? 'unknown' };
}

interface LockRow {
  pid: number;
  boot_id: string;
  start_time: string;
  owner: string;
  acquired_at: string;
}

export function lockHolder(db: Db): (LockRow & { alive: boolean; self: boolean }) | null {
  const row = db.prepare('SELECT * FROM update_lock WHERE id = 1').get() as LockRow | undefined;
  if (!row) return null;
  const me = selfIdentity();
  const self = row.pid === me.pid && row.boot_id === me.bootId && row.start_time === me.startTime;
  const alive = self || (row.boot_id === me.bootId && processStartTime(row.pid) === row.start_time);
  return { ...row, alive, self };
}

/** Takes the lock in one immediate transaction; a stale lock is taken over. */
export function acquireLock(db: Db, owner: string): void {
  const me = selfIdentity();
  db.transaction(() => {
    const h = lockHolder(db);
    if (h?.alive)
      throw new DrydockError(
        'UPDATE_IN_PROGRESS',
        `another update is running (${h.owner}, pid ${h.pid}, since ${h.acquired_at})`,
      );
    db.prepare(
      `INSERT OR REPLACE INTO update_lock (id, pid, boot_id, start_time, owner, acquired_at)
       VALUES (1, ?, ?, ?, ?, ?)`,
    ).run(me.pid, me.bootId, me.startTime, owner, new Date().toISOString());
  }).immediate();
}

export function releaseLock(db: Db): void {
  const me = selfIdentity();
  db.prepare('DELETE FROM update_lock WHERE id = 1 AND pid = ? AND start_time = ?').run(me.pid, me.startTime);
}
