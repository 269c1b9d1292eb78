// A vendor's key folder: DIR/root.json (the current root), DIR/roots/<n>.root.json (every version,
// so bundles and channels can carry the chain), DIR/private/<keyid>.key (sealed with a passphrase,
// see keyfile.ts) or, from older folders, DIR/private/<keyid>.pem (plain); files 0600, folder 0700.
// A key whose private half is not in the folder can still sign through an external signer (HSM, KMS).
import { createPublicKey, verify } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Key, Metadata, Root, Signature } from '@tufjs/models';
import { DrydockError } from '../../core/index.ts';
import { openPlainKey, openSealedKey, sealKey } from './keyfile.ts';
import { generateSigningKey, privateKeyPem, type SigningKey, signerFor } from './keys.ts';
import { expiresIn, parseMetadata, type RoleName, serialize, TOP_ROLES } from './metadata.ts';
import { updateRoot } from './verify.ts';

export const ROOT_EXPIRY_DAYS = 365;

/** Signs `data` (the canonical bytes) for `keyId` outside this process; returns the raw signature. */
export type ExternalSigner = (keyId: string, data: Buffer) => Buffer;

/** How the signing commands reach private keys; every one of them takes the same. */
export interface KeyAccess {
  /** opens sealed key files; the CLI reads it from --passphrase-file or DRYDOCK_KEY_PASSPHRASE */
  passphrase?: string | undefined;
  /** signs for the role keys whose private half is not in the folder (or cannot be opened) */
  signer?: ExternalSigner | undefined;
  /** told when a plain (unencrypted) private key is loaded */
  warn?: ((message: string) => void) | undefined;
}

interface Signable {
  sign(signer: ReturnType<typeof signerFor>): void;
}

export interface KeySet {
  dir: string;
  root: Metadata<Root>;
  /** every root version in the folder, oldest first */
  roots: { version: number; bytes: Buffer }[];
  /**
   * signs md with the role's keys: those held here, then the external signer for the others;
   * KEYS_MISSING below the threshold
   */
  sign(role: RoleName, md: Signable): void;
  /** the role's private keys held here and opened (sealed ones need the passphrase) */
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

/** Sealed with the passphrase when there is one; plain PEM only when the caller chose no passphrase. */
async function writePrivate(dir: string, k: SigningKey, passphrase: string | undefined): Promise<void> {
  const [name, body] = passphrase
    ? [`${k.keyId}.key`, sealKey(k, passphrase)]
    : [`${k.keyId}.pem`, privateKeyPem(k)];
  await writeFile(join(dir, 'private', name), body, { mode: 0o600, flag: 'wx' });
}

/**
 * Without a passphrase the private keys are written as plain PEM (what the CLI allows only with
 * --unencrypted); tests and demos use that.
 */
export async function initKeys(opts: {
  dir: string;
  threshold?: number;
  now?: Date;
  passphrase?: string | undefined;
}): Promise<{ rootPath: string; keyIds: Record<RoleName, string[]>; encrypted: boolean }> {
  const threshold = opts.threshold ?? 1;
  if (opts.passphrase !== undefined && opts.passphrase.length === 0)
    throw new DrydockError('KEY_PASSPHRASE_MISSING', 'the passphrase is empty');
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
      await writePrivate(dir, k, opts.passphrase);
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
  return { rootPath: join(dir, 'root.json'), keyIds, encrypted: opts.passphrase !== undefined };
}

function rawPublicKey(key: Key) {
  // an Ed25519 SPKI is a fixed 12-byte prefix followed by the raw 32-byte key
  const raw = Buffer.from(key.keyVal.public ?? '', 'hex');
  const prefix = Buffer.from('302a300506032b6570032100', 'hex');
  return createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
}

export async function loadKeySet(dir: string, access: KeyAccess = {}): Promise<KeySet> {
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

  // sealed files are opened only when a role needs them (scrypt costs ~0.1 s a key)
  const files = new Map<string, { path: string; sealed: boolean }>();
  for (const name of (await readdir(join(dir, 'private')).catch(() => [] as string[])).sort()) {
    const m = /^([0-9a-f]{64})\.(key|pem)$/.exec(name);
    if (m && !(files.get(m[1]!)?.sealed ?? false))
      files.set(m[1]!, { path: join(dir, 'private', name), sealed: m[2] === 'key' });
  }
  const opened = new Map<string, SigningKey>();
  let warned = false;
  const open = async (id: string): Promise<SigningKey | undefined> => {
    const f = files.get(id);
    if (!f) return undefined;
    if (opened.has(id)) return opened.get(id);
    const text = await readFile(f.path, 'utf8');
    let k: SigningKey;
    if (f.sealed) {
      // with an external signer at hand, a sealed key nobody gave the passphrase for is left to it
      if (!access.passphrase && access.signer) return undefined;
      k = openSealedKey(text, access.passphrase, f.path);
    } else {
      k = openPlainKey(text, f.path);
      if (!warned)
        access.warn?.(`${dir} holds unencrypted private keys (${f.path}); re-create them with a passphrase`);
      warned = true;
    }
    if (k.keyId !== id)
      throw new DrydockError('KEY_FILE_INVALID', `${f.path} holds key ${k.keyId}, not ${id}`);
    opened.set(id, k);
    return k;
  };
  // open what every top role needs now, so sign() and keysFor() stay synchronous for callers
  for (const role of TOP_ROLES) for (const id of root.signed.roles[role]?.keyIDs ?? []) await open(id);

  const keysFor = (role: RoleName) =>
    (root.signed.roles[role]?.keyIDs ?? []).flatMap((id) => (opened.has(id) ? [opened.get(id)!] : []));
  return {
    dir,
    root,
    roots,
    keysFor,
    sign(role, md) {
      const ids = root.signed.roles[role]?.keyIDs ?? [];
      const threshold = root.signed.roles[role]?.threshold ?? 1;
      const local = keysFor(role);
      const external = access.signer ? ids.filter((id) => !opened.has(id)) : [];
      if (local.length + external.length < threshold)
        throw new DrydockError(
          'KEYS_MISSING',
          `${dir} holds ${local.length} of the ${threshold} ${role} private keys needed to sign` +
            (access.signer ? '' : ' (an external signer can sign for the others: --signer CMD)'),
        );
      for (const k of local) md.sign(signerFor(k));
      for (const id of external) {
        const key = root.signed.keys[id];
        if (!key)
          throw new DrydockError('METADATA_INVALID', `root names ${role} key ${id} but does not list it`);
        md.sign((data) => {
          const sig = access.signer!(id, data);
          // a signer that answers with the wrong key or garbage is caught here, not on the box
          if (!verify(null, data, rawPublicKey(key), sig))
            throw new DrydockError(
              'SIGNER_FAILED',
              `the external signer's signature for ${role} key ${id} does not verify`,
            );
          return new Signature({ keyID: id, sig: sig.toString('hex') });
        });
      }
    },
  };
}

/**
 * A new root version with fresh keys for one role, signed by the old root keys and (when the root
 * role itself rotates) the new ones, so a box that trusts version N can move to N+1.
 */
export async function rotateKeys(
  opts: {
    dir: string;
    role: string;
    now?: Date;
  } & KeyAccess,
): Promise<{ version: number; rootPath: string; keyIds: string[] }> {
  const { dir, role } = opts;
  if (!(TOP_ROLES as readonly string[]).includes(role))
    throw new DrydockError('USAGE', `role must be one of ${TOP_ROLES.join(', ')}; got "${role}"`);
  const r = role as RoleName;
  const now = opts.now ?? new Date();
  const ks = await loadKeySet(dir, opts);
  // fresh keys are sealed like the folder's: never a plain key beside sealed ones
  const sealed = (await readdir(join(dir, 'private')).catch(() => [] as string[])).some((n) =>
    n.endsWith('.key'),
  );
  if (sealed && !opts.passphrase)
    throw new DrydockError(
      'KEY_PASSPHRASE_MISSING',
      `${dir} holds encrypted keys: the new ${role} keys need the passphrase (--passphrase-file FILE or DRYDOCK_KEY_PASSPHRASE)`,
    );
  const old = ks.root.signed;
  const oldRole = old.roles[r]!;

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
  // the old root keys (held here or by the external signer) vouch for the new root
  ks.sign('root', next);
  if (r === 'root') for (const k of fresh) if (!next.signatures[k.keyId]) next.sign(signerFor(k));
  const bytes = serialize(next);
  // never write a root that a box holding the old one would refuse
  updateRoot(ks.root, bytes, `root version ${next.signed.version}`);
  for (const k of fresh) await writePrivate(dir, k, opts.passphrase);
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
