// When state.db is sick. At start: `PRAGMA quick_check`; a database that fails it (or cannot be
// opened as one) is moved aside and the last good copy put back, and the service says so (audit,
// log, the session's notices) instead of crash-looping with no page and no rollback. While running:
// a good copy is kept (SQLite's online backup, written to a temp file, fsynced, renamed), and a
// locked database answers 503 quickly rather than blocking the event loop for the busy timeout.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { DrydockError } from '../../core/index.ts';
import { type Db, stateDbPath } from './db.ts';

function backupPath(root: string): string {
  return `${stateDbPath(root)}.bak`;
}

/** 'ok', or what quick_check (or opening) said. */
function quickCheck(file: string): string {
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const rows = db.pragma('quick_check') as { quick_check: string }[];
    const text = rows.map((r) => r.quick_check).join('; ');
    return text === 'ok' ? 'ok' : text.slice(0, 500);
  } catch (err) {
    return (err as Error).message;
  } finally {
    db?.close();
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export type Recovery =
  | { state: 'ok' }
  | { state: 'restored'; problem: string; movedTo: string }
  | { state: 'fresh'; problem: string; movedTo: string };

/**
 * Checks state.db before anything opens it. A sick one is moved aside (kept for whoever looks
 * into it) and the backup, if it passes the same check, takes its place.
 */
export function recoverDatabase(root: string, now: () => number = Date.now): Recovery {
  const file = stateDbPath(root);
  if (!existsSync(file)) return { state: 'ok' };
  const problem = quickCheck(file);
  if (problem === 'ok') return { state: 'ok' };
  const stamp = new Date(now()).toISOString().replace(/[:.]/g, '-');
  const movedTo = `${file}.corrupt-${stamp}`;
  renameSync(file, movedTo);
  for (const side of ['-wal', '-shm'])
    if (existsSync(file + side)) renameSync(file + side, `${movedTo}${side}`);
  const bak = backupPath(root);
  if (existsSync(bak) && quickCheck(bak) === 'ok') {
    const tmp = `${file}.restore-tmp`;
    const db = new Database(bak, { readonly: true, fileMustExist: true });
    try {
      db.exec(`VACUUM INTO '${tmp.replaceAll("'", "''")}'`);
    } finally {
      db.close();
    }
    fsyncPath(tmp);
    renameSync(tmp, file);
    fsyncPath(dirname(file));
    return { state: 'restored', problem, movedTo };
  }
  return { state: 'fresh', problem, movedTo };
}

/** Writes a consistent copy of the open database next to it (temp, fsync, rename, fsync folder). */
export async function backupDatabase(db: Db, root: string): Promise<void> {
  const bak = backupPath(root);
  const tmp = `${bak}.tmp`;
  rmSync(tmp, { force: true });
  await db.backup(tmp);
  fsyncPath(tmp);
  renameSync(tmp, bak);
  fsyncPath(dirname(bak));
}

/** SQLite's "busy"/"locked" as the service's 503, so callers retry instead of waiting on us. */
export function databaseError(err: unknown): DrydockError | null {
  const code = (err as { code?: string })?.code ?? '';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return new DrydockError('DATABASE_BUSY', 'the box database is busy; try again in a moment');
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
    return new DrydockError(
      'DATABASE_CORRUPT',
      'the box database is damaged; restart the updater service to restore the last good copy',
    );
  return null;
}
