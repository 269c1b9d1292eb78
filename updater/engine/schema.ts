// The engine's tables (migration set "engine"). Append migrations; never edit a shipped one.
import type { Migration } from './db.ts';

export const ENGINE_MIGRATIONS: Migration[] = [
  `
  -- the state machine: exactly one row
  CREATE TABLE update_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    kind TEXT,                -- install | update | rollback
    target_name TEXT,
    target_version TEXT,
    from_version TEXT,
    source TEXT,              -- bundle | channel
    step TEXT,
    progress_done INTEGER,
    progress_total INTEGER,
    error_code TEXT,
    error_message TEXT,
    history_id INTEGER,
    snapshot_id TEXT,
    automatic INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
  );
  INSERT INTO update_state (id, state, updated_at) VALUES (1, 'idle', strftime('%Y-%m-%dT%H:%M:%fZ','now'));

  CREATE TABLE history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_version TEXT,
    to_version TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    automatic INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    actor TEXT NOT NULL,
    steps TEXT NOT NULL DEFAULT '{}'
  );

  CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    result TEXT NOT NULL
  );

  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

  -- releases the box holds: role running | previous | staged | retained
  CREATE TABLE releases (
    version TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    role TEXT NOT NULL,
    staged_at TEXT NOT NULL,
    installed_at TEXT,
    left_at TEXT,              -- when it stopped running (orders retained releases)
    snapshot_id TEXT           -- the snapshot taken before it was applied (restored when rolling back from it)
  );

  -- the update lock: survives a crash, stale when its process is gone
  CREATE TABLE update_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    start_time TEXT NOT NULL,
    owner TEXT NOT NULL,
    acquired_at TEXT NOT NULL
  );

  -- what the channel offered at the last check
  CREATE TABLE available (version TEXT PRIMARY KEY, document TEXT NOT NULL, seen_at TEXT NOT NULL);

  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
];
