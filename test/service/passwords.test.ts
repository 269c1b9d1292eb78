import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkPasswordStrength,
  consumeInitialAdmin,
  getUser,
  hashPassword,
  initialAdminPath,
  isCommonPassword,
  needsRehash,
  openServiceDatabase,
  SERVICE_MIGRATIONS,
  setAdminPassword,
  verifyPassword,
} from '../../updater/service/index.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'drydock-pw-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

async function writeInitial(content: string, mode = 0o600) {
  const file = initialAdminPath(root);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, content, { mode });
  return file;
}

describe('password hashes', () => {
  it('salts per hash and verifies only the right password', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).not.toBe(b);
    // OWASP's floor (N=2^17,r=8,p=1) in its 32 MiB equivalent: N=2^15, r=8, p=3
    expect(a.startsWith('scrypt$32768$8$3$')).toBe(true);
    expect(needsRehash(a)).toBe(false);
    // a hash made with the old settings verifies, and is marked for a rehash
    expect(needsRehash('scrypt$32768$8$1$c2FsdA==$aGFzaA==')).toBe(true);
    // settings no one made are refused at once rather than computed
    expect(await verifyPassword('x', 'scrypt$1073741824$8$1$c2FsdA==$aGFzaA==')).toBe(false);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyPassword('x', 'garbage')).toBe(false);
  });

  it('judges chosen passwords', () => {
    expect(() => checkPasswordStrength('short')).toThrow(/at least 12/);
    expect(() => checkPasswordStrength('aaaaaaaaaaaaaaa')).toThrow(/different characters/);
    expect(() => checkPasswordStrength('same-password-1', { current: 'same-password-1' })).toThrow(/differ/);
    expect(() => checkPasswordStrength('my-admin-password', { username: 'admin' })).toThrow(/user name/);
    expect(() => checkPasswordStrength('a good long passphrase')).not.toThrow();
    // common passwords, and common passwords with digits or symbols around them
    for (const p of ['qwertyuiop123', '1qaz2wsx3edc', 'Password1234!', 'sunshine2024!!', '!!Football2026'])
      expect(() => checkPasswordStrength(p), p).toThrow(/common passwords/);
    expect(isCommonPassword('q1w2e3r4t5y6')).toBe(true);
    expect(isCommonPassword('lantern orbit cactus')).toBe(false);
  });
});

describe('initial admin hand-off (initial-admin.json from first boot)', () => {
  it('hashes the password into the users table, keeps mustChange, deletes the file', async () => {
    const db = openServiceDatabase(root);
    const file = await writeInitial(
      JSON.stringify({ password: 'i-0abc123def456', source: 'instance-id', mustChange: true }),
    );
    expect(await consumeInitialAdmin(db, root)).toEqual({
      consumed: true,
      source: 'instance-id',
      mustChange: true,
    });
    await expect(stat(file)).rejects.toThrow();
    const user = getUser(db, 'admin');
    expect(user?.mustChange).toBe(true);
    expect(user?.hash).not.toContain('i-0abc123def456');
    expect(await verifyPassword('i-0abc123def456', user!.hash)).toBe(true);
    expect(await consumeInitialAdmin(db, root)).toEqual({ consumed: false });
    db.close();
  });

  it('a password a deployer supplied must change at first sign-in, even if the file says not', async () => {
    const db = openServiceDatabase(root);
    for (const source of ['ovf', 'ec2-user-data', 'file'] as const) {
      await writeInitial(JSON.stringify({ password: 'a deployer password', source, mustChange: false }));
      expect(await consumeInitialAdmin(db, root)).toEqual({ consumed: true, source, mustChange: true });
      expect(getUser(db, 'admin')?.mustChange, source).toBe(true);
    }
    db.close();
  });

  it('refuses a bad or world-readable file, changes nothing and leaves it in place', async () => {
    const db = openServiceDatabase(root);
    await setAdminPassword(db, 'the existing password', { mustChange: false });
    const before = getUser(db, 'admin')!.hash;
    for (const [content, mode, why] of [
      ['not json', 0o600, /not JSON/],
      [JSON.stringify({ password: '', source: 'ovf', mustChange: false }), 0o600, /password/],
      [JSON.stringify({ password: 'p', source: 'somewhere', mustChange: false }), 0o600, /source/],
      [JSON.stringify({ password: 'p', source: 'ovf', mustChange: 'yes' }), 0o600, /mustChange/],
      [JSON.stringify({ password: 'p', source: 'ovf', mustChange: false }), 0o644, /readable by others/],
    ] as const) {
      const file = await writeInitial(content, mode);
      await expect(consumeInitialAdmin(db, root)).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: expect.stringMatching(why),
      });
      expect((await stat(file)).isFile()).toBe(true);
      await rm(file);
    }
    expect(getUser(db, 'admin')!.hash).toBe(before);
    db.close();
  });

  it('migrations are idempotent across opens', async () => {
    openServiceDatabase(root).close();
    const db = openServiceDatabase(root);
    const v = db
      .prepare("SELECT MAX(version) AS v FROM schema_migrations WHERE set_name = 'service'")
      .get() as { v: number };
    expect(v.v).toBe(SERVICE_MIGRATIONS.length);
    db.close();
  });
});
