// images.lock.yaml: the one place where the backend's images are pinned.
import { readFile } from 'node:fs/promises';
import { Type as T } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import YAML from 'yaml';
import { DrydockError } from '../../core/index.ts';
import type { ImagePin } from './api.ts';

const Pin = T.Object(
  {
    ref: T.String({
      pattern:
        '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)+:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$',
    }),
    digest: T.String({ pattern: '^sha256:[0-9a-f]{64}$' }),
    placeholder: T.Optional(T.Boolean()),
    source: T.Optional(T.String()),
  },
  { additionalProperties: false },
);
const Lock = T.Object(
  { images: T.Record(T.String({ pattern: '^[a-z][a-z0-9-]*$' }), Pin) },
  { additionalProperties: false },
);

export async function readLock(path: string): Promise<Record<string, ImagePin>> {
  let doc: unknown;
  try {
    doc = YAML.parse(await readFile(path, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DrydockError(
      missing ? 'SPEC_FILE_MISSING' : 'SPEC_INVALID',
      `${path}: ${missing ? 'no such file' : (e as Error).message.split('\n')[0]}`,
    );
  }
  if (!Value.Check(Lock, doc)) {
    const e = Value.Errors(Lock, doc).First();
    throw new DrydockError(
      'SPEC_INVALID',
      `${path}: ${e?.path || '/'} ${e?.message} (each image needs ref "repo:tag" and digest "sha256:<64 hex>")`,
    );
  }
  return (doc as { images: Record<string, ImagePin> }).images;
}

/**
 * "repository@sha256:…": the digest alone names the image. The tag stays in the lock file for
 * people; a reference carrying both is refused by skopeo (containers/image) and means nothing
 * more to containerd.
 */
export function pinned(p: ImagePin): string {
  return `${p.ref.replace(/:[^/:]+$/, '')}@${p.digest}`;
}
