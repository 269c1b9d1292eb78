// The box's SQLite file (WAL) and versioned schema migrations per named set: the engine owns set
// "engine", the service adds its own set ("service") to the same state.db.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { layout } from './layout.ts';

export type Db = Database.Database;

/** One migration: applied once, in order, inside a transaction with its version record. */
export type Migration = string | ((db: Db) => void);

export function openDatabase(root: string): Db {
  const file = layout(root).db;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // the file holds the admin's password hash, session and CSRF tokens and the audit log: 0600 from
  // its first byte (SQLite gives -wal and -shm the mode of the database file), its folder 0700
  chmodSync(dirname(file), 0o700);
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  for (const side of ['-wal', '-shm']) if (existsSync(file + side)) chmodSync(file + side, 0o600);
  // FULL: a committed transition survives power loss, not just a process crash
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * Applies the migrations of `set` that this database has not seen yet; migration i (0-based) is
 * schema version i+1 of that set. Returns the set's version afterwards. Refuses a database newer
 * than the code (a downgrade of the software must not silently run against a newer schema).
 */
export function migrate(db: Db, set: string, migrations: Migration[]): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    set_name TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL,
    PRIMARY KEY (set_name, version))`);
  const current =
    (
      db.prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE set_name = ?').get(set) as {
        v: number | null;
      }
    ).v ?? 0;
  if (current > migrations.length)
    throw new Error(
      `database schema "${set}" is at version ${current}, newer than this software (${migrations.length})`,
    );
  const record = db.prepare('INSERT INTO schema_migrations (set_name, version, applied_at) VALUES (?, ?, ?)');
  for (let v = current + 1; v <= migrations.length; v++) {
    const m = migrations[v - 1]!;
    db.transaction(() => {
      if (typeof m === 'string') db.exec(m);
      else m(db);
      record.run(set, v, new Date().toISOString());
    }).immediate();
  }
  return migrations.length;
}
