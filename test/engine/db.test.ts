// state.db: versioned migrations per named set, and the update lock that survives its holder's
// crash but not its holder's death.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { migrate, openDatabase } from '../../updater/engine/index.ts';
import { acquireLock, bootId, lockHolder, processStartTime, releaseLock } from '../../updater/engine/lock.ts';
import { ENGINE_MIGRATIONS } from '../../updater/engine/schema.ts';

let dir: string;
afterEach(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));

test('migrations run once, in order, per set; a newer schema is refused', async () => {
  dir = await mkdtemp(join(tmpdir(), 'drydock-db-'));
  const db = openDatabase(dir);
  expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  expect(migrate(db, 'engine', ENGINE_MIGRATIONS)).toBe(ENGINE_MIGRATIONS.length);
  const svc = ['CREATE TABLE users (name TEXT)', (d: typeof db) => d.exec("INSERT INTO users VALUES ('a')")];
  expect(migrate(db, 'service', svc.slice(0, 1))).toBe(1);
  expect(migrate(db, 'service', svc)).toBe(2); // only the new one runs
  expect(migrate(db, 'service', svc)).toBe(2); // nothing runs
  expect(db.prepare('SELECT COUNT(*) AS n FROM users').get()).toEqual({ n: 1 });
  expect(migrate(db, 'engine', ENGINE_MIGRATIONS)).toBe(ENGINE_MIGRATIONS.length);
  expect(() => migrate(db, 'service', svc.slice(0, 1))).toThrow(/newer than this software/);
  // a failing migration leaves no trace (its transaction rolls back with its version record)
  expect(() => migrate(db, 'other', ['CREATE TABLE t (x)', 'THIS IS NOT SQL'])).toThrow();
  expect(
    db.prepare("SELECT MAX(version) AS v FROM schema_migrations WHERE set_name = 'other'").get(),
  ).toEqual({ v: 1 });
  db.close();
});

test('the lock: held by a live process it refuses, a dead holder is taken over', async () => {
  dir = await mkdtemp(join(tmpdir(), 'drydock-db-'));
  const db = openDatabase(dir);
  migrate(db, 'engine', ENGINE_MIGRATIONS);
  const child = spawn('sleep', ['30']);
  await new Promise((r) => child.once('spawn', r));
  const pid = child.pid!;
  db.prepare(
    'INSERT INTO update_lock (id, pid, boot_id, start_time, owner, acquired_at) VALUES (1, ?, ?, ?, ?, ?)',
  ).run(pid, bootId(), processStartTime(pid), 'apply', new Date().toISOString());
  expect(lockHolder(db)?.alive).toBe(true);
  expect(() => acquireLock(db, 'apply')).toThrow(/another update is running/);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  expect(lockHolder(db)?.alive).toBe(false);
  acquireLock(db, 'apply'); // stale: taken over
  expect(lockHolder(db)).toMatchObject({ pid: process.pid, self: true });
  // a reused pid with another start time is not the holder
  db.prepare('UPDATE update_lock SET start_time = ? WHERE id = 1').run('1');
  expect(lockHolder(db)?.alive).toBe(false);
  db.prepare('UPDATE update_lock SET start_time = ? WHERE id = 1').run(processStartTime(process.pid));
  releaseLock(db);
  expect(lockHolder(db)).toBeNull();
  db.close();
});
