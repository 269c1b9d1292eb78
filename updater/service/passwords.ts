// Password hashes (scrypt from node:crypto, per-user random salt, constant-time compare), the
// admin account, and the first-password hand-off of seam 7 (initial-admin.json, consumed once).
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import { type Db, stmt } from './db.ts';

export const ADMIN_USER = 'admin';
export const MIN_PASSWORD_LENGTH = 12;

// N=2^15, r=8: ~32 MiB and a few tens of ms per hash; stored with the hash so it can be raised later
const PARAMS = { N: 32768, r: 8, p: 1, keylen: 32 };

function scrypt(password: string, salt: Buffer, p: typeof PARAMS): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(
      password.normalize('NFKC'),
      salt,
      p.keylen,
      { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, PARAMS);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    keylen: expected.length,
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

// verified against when the account does not exist, so the answer takes the same time
let dummyHash: Promise<string> | null = null;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
  return dummyHash;
}

/** The rule for passwords people choose (the first one from first boot is taken as given). */
export function checkPasswordStrength(
  password: string,
  opts: { current?: string; username?: string } = {},
): void {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH)
    throw new DrydockError(
      'PASSWORD_WEAK',
      `the password must have at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  if (password.length > 1024)
    throw new DrydockError('PASSWORD_WEAK', 'the password is longer than 1024 characters');
  if (opts.current !== undefined && password === opts.current)
    throw new DrydockError('PASSWORD_WEAK', 'the new password must differ from the current one');
  if (opts.username && password.toLowerCase().includes(opts.username.toLowerCase()))
    throw new DrydockError('PASSWORD_WEAK', 'the password must not contain the user name');
  if (new Set(password).size < 5)
    throw new DrydockError('PASSWORD_WEAK', 'the password repeats too few different characters');
}

export interface UserRow {
  username: string;
  hash: string;
  mustChange: boolean;
  source: string | null;
}

export function getUser(db: Db, username: string): UserRow | null {
  const row = stmt(
    db,
    'SELECT username, hash, must_change, source FROM service_users WHERE username = ?',
  ).get(username) as
    | { username: string; hash: string; must_change: number; source: string | null }
    | undefined;
  return row
    ? { username: row.username, hash: row.hash, mustChange: row.must_change === 1, source: row.source }
    : null;
}

/**
 * Sets the admin password (hashing it) and ends every session of the account, in one transaction.
 * Does not judge strength: first-boot passwords are taken as given; the change route checks.
 */
export async function setAdminPassword(
  db: Db,
  password: string,
  opts: { mustChange: boolean; source?: string; username?: string },
): Promise<void> {
  if (typeof password !== 'string' || password.length === 0)
    throw new DrydockError('PASSWORD_WEAK', 'the password is empty');
  if (password.length > 1024)
    throw new DrydockError('PASSWORD_WEAK', 'the password is longer than 1024 characters');
  const hash = await hashPassword(password);
  const username = opts.username ?? ADMIN_USER;
  db.transaction(() => {
    stmt(
      db,
      `INSERT INTO service_users (username, hash, must_change, source, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(username) DO UPDATE SET hash = excluded.hash, must_change = excluded.must_change,
         source = excluded.source, updated_at = excluded.updated_at`,
    ).run(username, hash, opts.mustChange ? 1 : 0, opts.source ?? null, new Date().toISOString());
    stmt(db, 'DELETE FROM service_sessions WHERE username = ?').run(username);
    stmt(db, 'DELETE FROM service_login_failures WHERE account = ?').run(username);
  })();
}

export function initialAdminPath(root: string): string {
  return join(root, 'var', 'lib', 'drydock', 'secrets', 'initial-admin.json');
}

const SOURCES = new Set(['ovf', 'ec2-user-data', 'file', 'instance-id']);

/**
 * Seam 7: when `<root>/var/lib/drydock/secrets/initial-admin.json` exists, hash its password into
 * the users table and delete the file. A bad file is refused with CONFIG_INVALID and left in place
 * (nothing changed) so the one who wrote it can see and fix it.
 */
export async function consumeInitialAdmin(
  db: Db,
  root: string,
): Promise<{ consumed: false } | { consumed: true; source: string; mustChange: boolean }> {
  const file = initialAdminPath(root);
  let text: string;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new DrydockError('CONFIG_INVALID', `${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0)
      throw new DrydockError(
        'CONFIG_INVALID',
        `${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}; want 600)`,
      );
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { consumed: false };
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new DrydockError('CONFIG_INVALID', `${file} is not JSON`);
  }
  const d = doc as { password?: unknown; source?: unknown; mustChange?: unknown };
  if (typeof d !== 'object' || d === null || typeof d.password !== 'string' || d.password.length === 0)
    throw new DrydockError('CONFIG_INVALID', `${file} has no "password" string`);
  if (typeof d.source !== 'string' || !SOURCES.has(d.source))
    throw new DrydockError('CONFIG_INVALID', `${file}: "source" must be one of ${[...SOURCES].join(', ')}`);
  if (typeof d.mustChange !== 'boolean')
    throw new DrydockError('CONFIG_INVALID', `${file}: "mustChange" must be a boolean`);
  await setAdminPassword(db, d.password, { mustChange: d.mustChange, source: d.source });
  await rm(file, { force: true });
  return { consumed: true, source: d.source, mustChange: d.mustChange };
}
