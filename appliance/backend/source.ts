// Loading a backend source: the reference one, or a vendor's module file or folder (index.ts/.js).
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DrydockError } from '../../core/index.ts';
import type { BackendSource } from './api.ts';

export const REFERENCE_SOURCE = join(import.meta.dirname, 'portal', 'index.ts');

async function entry(path: string): Promise<string> {
  const abs = resolve(path);
  const st = await stat(abs).catch(() => null);
  if (!st) throw new DrydockError('SPEC_FILE_MISSING', `backend source ${path} does not exist`);
  if (st.isFile()) return abs;
  for (const n of ['index.ts', 'index.mts', 'index.js', 'index.mjs']) {
    if (
      await stat(join(abs, n)).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return join(abs, n);
  }
  throw new DrydockError('SPEC_FILE_MISSING', `backend source folder ${path} has no index.ts or index.js`);
}

export async function loadSource(path?: string): Promise<BackendSource> {
  const file = await entry(path ?? REFERENCE_SOURCE);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new DrydockError(
      'SPEC_INVALID',
      `backend source ${file} does not load: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  const src = (mod.backend ?? mod.default) as BackendSource | undefined;
  if (
    !src ||
    typeof src !== 'object' ||
    typeof src.objects !== 'function' ||
    typeof src.name !== 'string' ||
    typeof src.lockFile !== 'string'
  )
    throw new DrydockError(
      'SPEC_INVALID',
      `backend source ${file} must export "backend" (or default) with name, version, lockFile and objects(ctx)`,
    );
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(src.name) || src.name.length > 53)
    throw new DrydockError(
      'SPEC_INVALID',
      `backend name "${src.name}" must be a DNS label of at most 53 characters (a Helm chart name)`,
    );
  return src;
}
