import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { migrate as engineMigrate, openDatabase as engineOpenDatabase } from '../engine/index.ts';

export type Db = Database.Database;
export type Migrate = (db: Db, setName: string, migrations: string[]) => void;
export type OpenDatabase = (root: string) => Db;

const SERVICE_MIGRATION_SET = 'service';

/** Versioned: entry i is version i+1; never edit an entry once shipped, append a new one. */
export const SERVICE_MIGRATIONS: string[] = [
  `CREATE TABLE IF NOT EXISTS service_users (
     username TEXT PRIMARY KEY,
     hash TEXT NOT NULL,
     must_change INTEGER NOT NULL DEFAULT 0,
     source TEXT,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE IF NOT EXISTS service_sessions (
     id_hash TEXT PRIMARY KEY,          -- sha256 of the cookie value: a copy of the db does not give sessions
     username TEXT NOT NULL,
     csrf TEXT NOT NULL,
     created_at INTEGER NOT NULL,       -- ms since epoch
     last_seen INTEGER NOT NULL,
     from_addr TEXT NOT NULL
   );
   CREATE INDEX IF NOT EXISTS service_sessions_user ON service_sessions(username);
   CREATE TABLE IF NOT EXISTS service_login_failures (
     account TEXT PRIMARY KEY,
     failures INTEGER NOT NULL,
     window_start INTEGER NOT NULL,
     locked_until INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE IF NOT EXISTS service_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // sign-in delays per (account, address); the account as a keyed hash (updater/service/throttle.ts)
  `DROP TABLE IF EXISTS service_login_failures;
   CREATE TABLE IF NOT EXISTS service_login_throttle (
     account_key TEXT NOT NULL,
     address TEXT NOT NULL,
     failures INTEGER NOT NULL,
     last_failure INTEGER NOT NULL,
     next_allowed INTEGER NOT NULL,
     PRIMARY KEY (account_key, address)
   );`,
];

export function stateDbPath(root: string): string {
  return join(root, 'var', 'lib', 'drydock', 'state.db');
}

/** Opens state.db and brings the service tables up to date. */
export function openServiceDatabase(
  root: string,
  engine: { openDatabase?: OpenDatabase; migrate?: Migrate } = {},
): Db {
  const db = (engine.openDatabase ?? engineOpenDatabase)(root);
  (engine.migrate ?? engineMigrate)(db, SERVICE_MIGRATION_SET, SERVICE_MIGRATIONS);
  return db;
}

export function getMeta(db: Db, key: string): string | null {
  const row = db.prepare('SELECT value FROM service_meta WHERE key = ?').get(key) as
    | { value: string }
    | undefined;
  return row?.value ?? null;
}

export function setMeta(db: Db, key: string, value: string): void {
  db.prepare(
    'INSERT INTO service_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  ).run(key, value);
}

// prepared once per connection: the session check runs on every request
const statements = new WeakMap<Db, Map<string, Database.Statement>>();
export function stmt(db: Db, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (!cache) {
    cache = new Map();
    statements.set(db, cache);
  }
  let s = cache.get(sql);
  if (!s) {
    s = db.prepare(sql);
    cache.set(sql, s);
  }
  return s;
}
