// Client-side TUF checks (spec §5.3–5.6) for metadata that arrives in a bundle: the root chain,
// then timestamp → snapshot → targets, each against the keys and threshold the root names, and
// expiry against an injected clock. Failures are classified so callers get a stable code.
import type { Key, Metadata, Root, Snapshot, Targets, Timestamp } from '@tufjs/models';
import { DrydockError } from '../../core/index.ts';
import { parseMetadata, type RoleName, sha256Hex } from './metadata.ts';

type AnyMd = Metadata<Root | Targets | Snapshot | Timestamp>;
type Role = Root['roles'][string];

/** Counts valid signatures by the role's keys; throws a code that says why the threshold was missed. */
export function checkSignatures(
  label: string,
  md: AnyMd,
  keys: Record<string, Key>,
  role: Role,
  roleName: string,
  foreignCode: 'UNKNOWN_KEY' | 'ROOT_CHAIN_BROKEN' = 'UNKNOWN_KEY',
): void {
  let valid = 0;
  let bad = 0;
  let foreign = 0;
  for (const keyId of Object.keys(md.signatures)) {
    const key = keys[keyId];
    if (!key || !role.keyIDs.includes(keyId)) {
      foreign++;
      continue;
    }
    try {
      key.verifySignature(md);
      valid++;
    } catch {
      bad++;
    }
  }
  if (valid >= role.threshold) return;
  if (bad > 0)
    throw new DrydockError(
      'SIGNATURE_INVALID',
      `${label}: a ${roleName} signature does not match the content (tampered or corrupt)`,
    );
  if (valid === 0 && foreign > 0)
    throw new DrydockError(
      foreignCode,
      foreignCode === 'ROOT_CHAIN_BROKEN'
        ? `${label} is not signed by the keys of the root the box trusts`
        : `${label} is signed by a key that is not trusted for the ${roleName} role`,
    );
  throw new DrydockError(
    'THRESHOLD_NOT_MET',
    `${label} carries ${valid} of the ${role.threshold} ${roleName} signatures required`,
  );
}

function roleOf(root: Root, name: RoleName, label: string): Role {
  const role = root.roles[name];
  if (!role) throw new DrydockError('METADATA_INVALID', `${label}: root defines no ${name} role`);
  return role;
}

function notExpired(label: string, md: AnyMd, now: Date): void {
  if (md.signed.isExpired(now))
    throw new DrydockError('METADATA_EXPIRED', `${label} expired at ${md.signed.expires}`);
}

/** One root step of the chain: N+1 must be signed by a threshold of N's root keys and of its own. */
export function updateRoot(trusted: Metadata<Root>, bytes: Buffer, label: string): Metadata<Root> {
  const next = parseMetadata('root', bytes, label);
  checkSignatures(
    label,
    next,
    trusted.signed.keys,
    roleOf(trusted.signed, 'root', label),
    'root',
    'ROOT_CHAIN_BROKEN',
  );
  if (next.signed.version !== trusted.signed.version + 1)
    throw new DrydockError(
      'ROOT_CHAIN_BROKEN',
      `${label} has version ${next.signed.version}, expected ${trusted.signed.version + 1}`,
    );
  const own = roleOf(next.signed, 'root', label);
  try {
    checkSignatures(label, next, next.signed.keys, own, 'root');
  } catch (e) {
    // signed only by the old keys: the new root keys have not vouched for themselves
    if ((e as DrydockError).code !== 'UNKNOWN_KEY') throw e;
    throw new DrydockError(
      'THRESHOLD_NOT_MET',
      `${label} carries none of the ${own.threshold} signatures its own root keys must give`,
    );
  }
  return next;
}

/**
 * Walks from the trusted root through the newer versions given (any order; older or equal ones are
 * ignored when they match what is trusted) and checks that the final root has not expired.
 */
export function verifyRootChain(
  trusted: Metadata<Root>,
  roots: { label: string; bytes: Buffer; version?: number }[],
  now: Date,
): { root: Metadata<Root>; accepted: Buffer[] } {
  const parsed = roots.map((r) => ({ ...r, md: parseMetadata('root', r.bytes, r.label) }));
  for (const r of parsed)
    if (r.version !== undefined && r.version !== r.md.signed.version)
      throw new DrydockError('ROOT_CHAIN_BROKEN', `${r.label} holds root version ${r.md.signed.version}`);
  parsed.sort((a, b) => a.md.signed.version - b.md.signed.version);
  let root = trusted;
  const accepted: Buffer[] = [];
  for (const r of parsed) {
    const v = r.md.signed.version;
    if (v < trusted.signed.version) continue;
    if (v === trusted.signed.version) {
      // the same version must be the same document, otherwise someone forked the chain
      if (!r.md.signed.equals(trusted.signed))
        throw new DrydockError(
          'ROOT_CHAIN_BROKEN',
          `${r.label} differs from the trusted root of the same version`,
        );
      continue;
    }
    root = updateRoot(root, r.bytes, r.label);
    accepted.push(r.bytes);
  }
  notExpired(`root version ${root.signed.version}`, root, now);
  return { root, accepted };
}

export interface TopLevel {
  timestamp: Metadata<Timestamp>;
  snapshot: Metadata<Snapshot>;
  targets: Metadata<Targets>;
}

/** timestamp → snapshot → targets under the given (already chained) root. */
export function verifyTopLevel(
  root: Metadata<Root>,
  files: { timestamp: Buffer; snapshot: Buffer; targets: Buffer },
  now: Date,
): TopLevel {
  const keys = root.signed.keys;
  const timestamp = parseMetadata('timestamp', files.timestamp, 'timestamp.json');
  checkSignatures('timestamp.json', timestamp, keys, roleOf(root.signed, 'timestamp', 'root'), 'timestamp');
  notExpired('timestamp.json', timestamp, now);

  const snapshot = parseMetadata('snapshot', files.snapshot, 'snapshot.json');
  checkSignatures('snapshot.json', snapshot, keys, roleOf(root.signed, 'snapshot', 'root'), 'snapshot');
  pinned('snapshot.json', files.snapshot, snapshot.signed.version, timestamp.signed.snapshotMeta);
  notExpired('snapshot.json', snapshot, now);

  const targets = parseMetadata('targets', files.targets, 'targets.json');
  checkSignatures('targets.json', targets, keys, roleOf(root.signed, 'targets', 'root'), 'targets');
  const meta = snapshot.signed.meta['targets.json'];
  if (!meta) throw new DrydockError('METADATA_INVALID', 'snapshot.json does not list targets.json');
  pinned('targets.json', files.targets, targets.signed.version, meta);
  notExpired('targets.json', targets, now);
  return { timestamp, snapshot, targets };
}

function pinned(
  label: string,
  bytes: Buffer,
  version: number,
  meta: { version: number; length?: number; hashes?: Record<string, string> },
): void {
  if (meta.version !== version)
    throw new DrydockError(
      'METADATA_INVALID',
      `${label} has version ${version}, but the signed metadata above it names version ${meta.version}`,
    );
  if (meta.length !== undefined && meta.length !== bytes.length)
    throw new DrydockError('METADATA_INVALID', `${label} has ${bytes.length} bytes, ${meta.length} signed`);
  const want = meta.hashes?.sha256;
  if (want !== undefined && want !== sha256Hex(bytes))
    throw new DrydockError('METADATA_INVALID', `${label} does not match the hash signed for it`);
}

/** The signed entry for a target path, checked against the bytes at hand. */
export function verifyTarget(targets: Metadata<Targets>, path: string, bytes: Buffer) {
  const t = targets.signed.targets[path];
  if (!t) throw new DrydockError('BUNDLE_SIGNATURE_INVALID', `${path} is not a signed target`);
  const want = t.hashes.sha256;
  if (t.length !== bytes.length || !want || want !== sha256Hex(bytes))
    throw new DrydockError('BUNDLE_SIGNATURE_INVALID', `${path} does not match its signed length and hash`);
  return t;
}
