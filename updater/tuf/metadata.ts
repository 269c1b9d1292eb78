// Building, serialising and parsing TUF metadata with @tufjs/models. Files are written as canonical
// JSON so that their hashes (pinned by snapshot and timestamp) are reproducible.
import { createHash } from 'node:crypto';
import {
  Metadata,
  type MetadataKind,
  MetaFile,
  type Root,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';
import { DrydockError } from '../../core/index.ts';
import { canonicalJson } from '../release/index.ts';

export const TOP_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type RoleName = (typeof TOP_ROLES)[number];

export function isRoleName(s: string): s is RoleName {
  return (TOP_ROLES as readonly string[]).includes(s);
}

/** TUF wants expiry as YYYY-MM-DDTHH:MM:SSZ, without fractions. */
export function tufTime(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export function expiresIn(now: Date, days: number): string {
  return tufTime(new Date(now.getTime() + days * 86_400_000));
}

export function serialize(md: Metadata<Root | Targets | Snapshot | Timestamp>): Buffer {
  return Buffer.from(canonicalJson(md.toJSON()));
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

type Kinds = {
  root: Root;
  targets: Targets;
  snapshot: Snapshot;
  timestamp: Timestamp;
};

/** Parses one metadata file; anything malformed is METADATA_INVALID naming the file. */
export function parseMetadata<K extends RoleName>(kind: K, bytes: Buffer, label: string): Metadata<Kinds[K]> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new DrydockError('METADATA_INVALID', `${label} is not valid JSON`);
  }
  try {
    return Metadata.fromJSON(kind as MetadataKind.Root, doc as never) as unknown as Metadata<Kinds[K]>;
  } catch (e) {
    throw new DrydockError('METADATA_INVALID', `${label} is not ${kind} metadata: ${(e as Error).message}`);
  }
}

export interface TargetEntry {
  length: number;
  sha256: string;
  custom?: Record<string, unknown>;
}

export function newTargets(
  version: number,
  expires: string,
  targets: Record<string, TargetEntry>,
): Metadata<Targets> {
  const files: Record<string, TargetFile> = {};
  for (const [path, t] of Object.entries(targets))
    files[path] = new TargetFile({
      path,
      length: t.length,
      hashes: { sha256: t.sha256 },
      ...(t.custom ? { unrecognizedFields: { custom: t.custom as never } } : {}),
    });
  return new Metadata(new Targets({ version, expires, specVersion: '1.0.31', targets: files }));
}

export function newSnapshot(version: number, expires: string, targetsBytes: Buffer, targetsVersion: number) {
  return new Metadata(
    new Snapshot({
      version,
      expires,
      specVersion: '1.0.31',
      meta: {
        'targets.json': new MetaFile({
          version: targetsVersion,
          length: targetsBytes.length,
          hashes: { sha256: sha256Hex(targetsBytes) },
        }),
      },
    }),
  );
}

export function newTimestamp(
  version: number,
  expires: string,
  snapshotBytes: Buffer,
  snapshotVersion: number,
) {
  return new Metadata(
    new Timestamp({
      version,
      expires,
      specVersion: '1.0.31',
      snapshotMeta: new MetaFile({
        version: snapshotVersion,
        length: snapshotBytes.length,
        hashes: { sha256: sha256Hex(snapshotBytes) },
      }),
    }),
  );
}

export { Metadata };
