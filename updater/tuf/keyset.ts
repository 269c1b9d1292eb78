// A vendor's key folder: DIR/root.json (the current root), DIR/roots/<n>.root.json (every version,
// so bundles and channels can carry the chain), DIR/private/<keyid>.pem (0600, folder 0700).
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Metadata, Root } from '@tufjs/models';
import { DrydockError } from '../../core/index.ts';
import { generateSigningKey, privateKeyPem, type SigningKey, signerFor, signingKeyFromPem } from './keys.ts';
import { expiresIn, parseMetadata, type RoleName, serialize, TOP_ROLES } from './metadata.ts';
import { updateRoot } from './verify.ts';

export const ROOT_EXPIRY_DAYS = 365;

export interface KeySet {
  dir: string;
  root: Metadata<Root>;
  /** every root version in the folder, oldest first */
  roots: { version: number; bytes: Buffer }[];
  /** signs md with the role's private keys held here; KEYS_MISSING below the threshold */
  sign(role: RoleName, md: { sign(signer: ReturnType<typeof signerFor>): void }): void;
  keysFor(role: RoleName): SigningKey[];
}

function rootFromJSON(f: { version: number; expires: string; keys: unknown; roles: unknown }): Root {
  return Root.fromJSON({
    _type: 'root',
    spec_version: '1.0.31',
    version: f.version,
    expires: f.expires,
    keys: f.keys,
    roles: f.roles,
    consistent_snapshot: true,
  } as never);
}

async function exists(p: string): Promise<boolean> {
  return access(p, constants.F_OK).then(
    () => true,
    () => false,
  );
}

async function writeAtomic(path: string, data: Buffer | string, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

async function writePrivate(dir: string, k: SigningKey): Promise<void> {
  await writeFile(join(dir, 'private', `${k.keyId}.pem`), privateKeyPem(k), { mode: 0o600, flag: 'wx' });
}

export async function initKeys(opts: {
  dir: string;
  threshold?: number;
  now?: Date;
}): Promise<{ rootPath: string; keyIds: Record<RoleName, string[]> }> {
  const threshold = opts.threshold ?? 1;
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > 16)
    throw new DrydockError('USAGE', `threshold must be an integer from 1 to 16, got ${opts.threshold}`);
  const now = opts.now ?? new Date();
  const { dir } = opts;
  for (const p of ['root.json', 'roots', 'private'])
    if (await exists(join(dir, p)))
      throw new DrydockError('KEYS_EXIST', `${join(dir, p)} exists; refusing to overwrite a key set`);
  await mkdir(join(dir, 'private'), { recursive: true, mode: 0o700 });
  await mkdir(join(dir, 'roots'), { recursive: true });

  const generated = new Map<RoleName, SigningKey[]>();
  const keys: Record<string, unknown> = {};
  const roles: Record<string, { keyids: string[]; threshold: number }> = {};
  for (const role of TOP_ROLES) {
    const ks = Array.from({ length: threshold }, generateSigningKey);
    generated.set(role, ks);
    for (const k of ks) {
      keys[k.keyId] = k.key.toJSON();
      await writePrivate(dir, k);
    }
    roles[role] = { keyids: ks.map((k) => k.keyId), threshold };
  }
  const md = new Metadata(
    rootFromJSON({ version: 1, expires: expiresIn(now, ROOT_EXPIRY_DAYS), keys, roles }),
  );
  for (const k of generated.get('root')!) md.sign(signerFor(k));
  const bytes = serialize(md);
  await writeAtomic(join(dir, 'roots', '1.root.json'), bytes);
  await writeAtomic(join(dir, 'root.json'), bytes);
  const keyIds = Object.fromEntries([...generated].map(([r, ks]) => [r, ks.map((k) => k.keyId)])) as Record<
    RoleName,
    string[]
  >;
  return { rootPath: join(dir, 'root.json'), keyIds };
}

export async function loadKeySet(dir: string): Promise<KeySet> {
  let rootBytes: Buffer;
  try {
    rootBytes = await readFile(join(dir, 'root.json'));
  } catch {
    throw new DrydockError('KEYS_MISSING', `${dir} holds no root.json (run drydock keys init)`);
  }
  const root = parseMetadata('root', rootBytes, join(dir, 'root.json'));
  const roots: { version: number; bytes: Buffer }[] = [];
  for (const name of await readdir(join(dir, 'roots')).catch(() => [] as string[])) {
    const m = /^(\d+)\.root\.json$/.exec(name);
    if (m) roots.push({ version: Number(m[1]), bytes: await readFile(join(dir, 'roots', name)) });
  }
  roots.sort((a, b) => a.version - b.version);
  if (!roots.some((r) => r.version === root.signed.version))
    roots.push({ version: root.signed.version, bytes: rootBytes });

  const privates = new Map<string, SigningKey>();
  for (const name of await readdir(join(dir, 'private')).catch(() => [] as string[])) {
    if (!name.endsWith('.pem')) continue;
    const k = signingKeyFromPem(await readFile(join(dir, 'private', name), 'utf8'));
    privates.set(k.keyId, k);
  }
  const keysFor = (role: RoleName) =>
    (root.signed.roles[role]?.keyIDs ?? []).flatMap((id) => (privates.has(id) ? [privates.get(id)!] : []));
  return {
    dir,
    root,
    roots,
    keysFor,
    sign(role, md) {
      const keys = keysFor(role);
      const threshold = root.signed.roles[role]?.threshold ?? 1;
      if (keys.length < threshold)
        throw new DrydockError(
          'KEYS_MISSING',
          `${dir} holds ${keys.length} of the ${threshold} ${role} private keys needed to sign`,
        );
      for (const k of keys) md.sign(signerFor(k));
    },
  };
}

/**
 * A new root version with fresh keys for one role, signed by the old root keys and (when the root
 * role itself rotates) the new ones, so a box that trusts version N can move to N+1.
 */
export async function rotateKeys(opts: {
  dir: string;
  role: string;
  now?: Date;
}): Promise<{ version: number; rootPath: string; keyIds: string[] }> {
  const { dir, role } = opts;
  if (!(TOP_ROLES as readonly string[]).includes(role))
    throw new DrydockError('USAGE', `role must be one of ${TOP_ROLES.join(', ')}; got "${role}"`);
  const r = role as RoleName;
  const now = opts.now ?? new Date();
  const ks = await loadKeySet(dir);
  const old = ks.root.signed;
  const oldRole = old.roles[r]!;
  const oldRootKeys = ks.keysFor('root');
  if (oldRootKeys.length < old.roles.root!.threshold)
    throw new DrydockError('KEYS_MISSING', `${dir} lacks the root private keys needed to sign a new root`);

  const fresh = Array.from({ length: oldRole.keyIDs.length || oldRole.threshold }, generateSigningKey);
  const roles = Object.fromEntries(
    Object.entries(old.roles).map(([name, ro]) => [
      name,
      name === r
        ? { keyids: fresh.map((k) => k.keyId), threshold: oldRole.threshold }
        : { keyids: [...ro.keyIDs], threshold: ro.threshold },
    ]),
  );
  const used = new Set(Object.values(roles).flatMap((ro) => ro.keyids));
  const keys: Record<string, unknown> = {};
  for (const [id, k] of Object.entries(old.keys)) if (used.has(id)) keys[id] = k.toJSON();
  for (const k of fresh) keys[k.keyId] = k.key.toJSON();
  const next = new Metadata(
    rootFromJSON({ version: old.version + 1, expires: expiresIn(now, ROOT_EXPIRY_DAYS), keys, roles }),
  );
  const signers = new Map(oldRootKeys.map((k) => [k.keyId, k]));
  if (r === 'root') for (const k of fresh) signers.set(k.keyId, k);
  for (const k of signers.values()) next.sign(signerFor(k));
  const bytes = serialize(next);
  // never write a root that a box holding the old one would refuse
  updateRoot(ks.root, bytes, `root version ${next.signed.version}`);
  for (const k of fresh) await writePrivate(dir, k);
  await mkdir(join(dir, 'roots'), { recursive: true });
  await writeAtomic(join(dir, 'roots', `${next.signed.version}.root.json`), bytes);
  await writeAtomic(join(dir, 'root.json'), bytes);
  return {
    version: next.signed.version,
    rootPath: join(dir, 'root.json'),
    keyIds: fresh.map((k) => k.keyId),
  };
}

/** A trusted root given as a path, raw bytes or a parsed JSON document. */
export async function loadTrustedRoot(src: unknown): Promise<Metadata<Root>> {
  if (typeof src === 'string') {
    let bytes: Buffer;
    try {
      bytes = await readFile(src);
    } catch {
      throw new DrydockError('NOT_FOUND', `trusted root ${src} cannot be read`);
    }
    return parseMetadata('root', bytes, src);
  }
  if (Buffer.isBuffer(src)) return parseMetadata('root', src, 'trusted root');
  if (src instanceof Metadata) return src as Metadata<Root>;
  return parseMetadata('root', Buffer.from(JSON.stringify(src)), 'trusted root');
}
