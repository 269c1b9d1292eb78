// Per-box credentials for the backend (database passwords …): the backend declares which Secrets it
// needs (generated-secrets.json, written by `backend render`); first boot fills them with random
// values once, so no two boxes share a password and none travels in a release bundle.
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { Type as T } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import YAML from 'yaml';
import { DrydockError } from '../../core/index.ts';
import { PATHS } from './apply.ts';
import { readText, under, writeAtomic } from './fsutil.ts';

const GeneratedSecrets = T.Array(
  T.Object({
    namespace: T.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 }),
    name: T.String({ pattern: '^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$', maxLength: 253 }),
    keys: T.Array(T.String({ pattern: '^[-._a-zA-Z0-9]+$' }), { minItems: 1 }),
  }),
);
type GeneratedSecretSpec = { namespace: string; name: string; keys: string[] };

export async function ensureGeneratedSecrets(root: string): Promise<number> {
  const specText = await readText(under(root, PATHS.generatedSecrets));
  if (specText === null) return 0;
  const target = under(root, PATHS.secretsManifest);
  if (
    await access(target).then(
      () => true,
      () => false,
    )
  )
    return 0;
  const spec: unknown = JSON.parse(specText);
  if (!Value.Check(GeneratedSecrets, spec))
    throw new DrydockError(
      'CONFIG_INVALID',
      `${PATHS.generatedSecrets} does not list {namespace, name, keys}`,
    );
  const docs = (spec as GeneratedSecretSpec[]).map((s) =>
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: s.name,
        namespace: s.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'drydock-firstboot' },
      },
      type: 'Opaque',
      // hex keeps the value safe in URLs and config files that embed it
      stringData: Object.fromEntries(s.keys.map((k) => [k, randomBytes(24).toString('hex')])),
    }),
  );
  await writeAtomic(target, docs.join('---\n'), 0o600);
  return docs.length;
}
