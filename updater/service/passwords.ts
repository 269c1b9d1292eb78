// Password hashes (scrypt from node:crypto, per-user random salt, constant-time compare), the
// admin account, and the first-password hand-off from first boot (initial-admin.json, consumed once).
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import { COMMON_PASSWORDS } from './common-passwords.ts';
import { type Db, stmt } from './db.ts';
import { endLoginDelays } from './throttle.ts';

export const ADMIN_USER = 'admin';
const MIN_PASSWORD_LENGTH = 12;

// OWASP's scrypt floor has equivalent settings (N=2^17,r=8,p=1 / 2^16,8,2 / 2^15,8,3 ...): this one
// keeps 32 MiB per hash, which matters on a box whose updater has a MemoryMax. Stored with the hash,
// so a hash made with weaker settings is redone at the next sign-in (needsRehash).
const SCRYPT_PARAMS = { N: 32768, r: 8, p: 3, keylen: 32 };
type Params = typeof SCRYPT_PARAMS;

// at most two hashes at once: a burst of sign-ins queues instead of taking 32 MiB each
const MAX_CONCURRENT_HASHES = 2;
let running = 0;
const waiting: (() => void)[] = [];
async function withHashSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_HASHES) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function scrypt(password: string, salt: Buffer, p: Params): Promise<Buffer> {
  return withHashSlot(
    () =>
      new Promise<Buffer>((resolve, reject) =>
        scryptCb(
          password.normalize('NFKC'),
          salt,
          p.keylen,
          { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 },
          (err, key) => (err ? reject(err) : resolve(key)),
        ),
      ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const P = SCRYPT_PARAMS;
  const key = await scrypt(password, salt, P);
  return `scrypt$${P.N}$${P.r}$${P.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether a stored hash was made with weaker settings than today's. */
export function needsRehash(stored: string): boolean {
  const [scheme, n, r, p] = stored.split('$');
  const P = SCRYPT_PARAMS;
  return scheme !== 'scrypt' || Number(n) * Number(p) < P.N * P.p || Number(r) < P.r;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  // a hash is ours, but refuse settings no one made (a tampered row must not cost minutes)
  if (!(Number(n) <= 2 ** 20 && Number(r) <= 16 && Number(p) <= 16)) return false;
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
  if (isCommonPassword(password))
    throw new DrydockError(
      'PASSWORD_WEAK',
      'the password is on the list of common passwords (or is one with digits or symbols added); choose another',
    );
}

let common: Set<string> | null = null;
/** One of the common passwords, or one of them with digits and symbols before or after it. */
export function isCommonPassword(password: string): boolean {
  common ??= new Set(COMMON_PASSWORDS.split('\n'));
  const p = password.normalize('NFKC').toLowerCase();
  if (common.has(p)) return true;
  const core = p.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  return core.length >= 8 && common.has(core);
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
  })();
  // a new password ends the sign-in delays of the account (the console's way back in)
  endLoginDelays(db, username);
}

/** Re-hashes a password just verified with today's settings; the account and its sessions stay. */
export async function setPasswordHash(db: Db, username: string, password: string): Promise<void> {
  const hash = await hashPassword(password);
  stmt(db, 'UPDATE service_users SET hash = ? WHERE username = ?').run(hash, username);
}

export function initialAdminPath(root: string): string {
  return join(root, 'var', 'lib', 'drydock', 'secrets', 'initial-admin.json');
}

const SOURCES = new Set(['ovf', 'ec2-user-data', 'ec2-ssm-parameter', 'file', 'instance-id']);

/**
 * When `<root>/var/lib/drydock/secrets/initial-admin.json` exists, hash its password into
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
  if (d.mustChange !== undefined && typeof d.mustChange !== 'boolean')
    throw new DrydockError('CONFIG_INVALID', `${file}: "mustChange" must be a boolean`);
  // a password a deployer supplied (OVF property, user data, a file) was seen by more than the
  // admin: it is always changed at the first sign-in, whatever the file says
  await setAdminPassword(db, d.password, { mustChange: true, source: d.source });
  await rm(file, { force: true });
  return { consumed: true, source: d.source, mustChange: true };
}
