// Resolves one image in a layout: index.json → (nested index →) manifest by ref name → config and
// layers. Small JSON blobs are digest-checked here; layers are checked by whoever streams them.
import { type Static, Type as T } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DrydockError } from '../../core/index.ts';
import type { BlobRef } from '../release/index.ts';
import { type OciLayout, readVerified } from './layout.ts';

const REF_NAME = 'org.opencontainers.image.ref.name';

const Descriptor = T.Object({
  mediaType: T.String(),
  digest: T.String({ pattern: '^sha256:[a-f0-9]{64}$' }),
  size: T.Integer({ minimum: 0 }),
  annotations: T.Optional(T.Record(T.String(), T.String())),
  platform: T.Optional(
    T.Object({ architecture: T.String(), os: T.String(), variant: T.Optional(T.String()) }),
  ),
});
type Descriptor = Static<typeof Descriptor>;
const Index = T.Object({ schemaVersion: T.Literal(2), manifests: T.Array(Descriptor) });
const Manifest = T.Object({ schemaVersion: T.Literal(2), config: Descriptor, layers: T.Array(Descriptor) });

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

export interface ResolvedImage {
  platform: string;
  manifest: BlobRef;
  config: BlobRef;
  layers: BlobRef[];
}

function parse<S extends typeof Index | typeof Manifest>(schema: S, data: Buffer, what: string): Static<S> {
  let doc: unknown;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch {
    throw new DrydockError('IMAGE_INVALID', `${what} is not JSON`);
  }
  if (!Value.Check(schema, doc)) {
    const e = Value.Errors(schema, doc).First();
    throw new DrydockError('IMAGE_INVALID', `${what}: ${e?.path || '/'} ${e?.message ?? 'invalid'}`);
  }
  return doc as Static<S>;
}

const ref = (d: Descriptor): BlobRef => ({ digest: d.digest, size: d.size, mediaType: d.mediaType });

export async function resolveImage(
  layout: OciLayout,
  opts: { tag?: string; platform?: string } = {},
): Promise<ResolvedImage> {
  const platform = opts.platform ?? 'linux/amd64';
  const [os, arch] = platform.split('/');
  const where = layout.source;
  const index = parse(Index, await layout.readFile('index.json', 4 << 20), `${where}: index.json`);
  const named = opts.tag
    ? index.manifests.filter((m) => m.annotations?.[REF_NAME] === opts.tag)
    : index.manifests;
  if (named.length !== 1)
    throw new DrydockError(
      'IMAGE_INVALID',
      opts.tag
        ? `${where} has ${named.length === 0 ? 'no' : named.length} image named "${opts.tag}"`
        : `${where} holds ${named.length} images; name one with "tag"`,
    );
  let desc = named[0]!;
  for (let depth = 0; INDEX_TYPES.has(desc.mediaType); depth++) {
    if (depth > 2) throw new DrydockError('IMAGE_INVALID', `${where}: image indexes nest too deep`);
    const nested = parse(
      Index,
      await readVerified(layout, desc.digest, desc.size),
      `${where}: ${desc.digest}`,
    );
    const pick = nested.manifests.find((m) => m.platform?.os === os && m.platform?.architecture === arch);
    if (!pick) throw new DrydockError('IMAGE_INVALID', `${where}: no ${platform} image in ${desc.digest}`);
    desc = pick;
  }
  const manifest = parse(
    Manifest,
    await readVerified(layout, desc.digest, desc.size),
    `${where}: manifest ${desc.digest}`,
  );
  await readVerified(layout, manifest.config.digest, manifest.config.size);
  for (const l of manifest.layers) {
    const size = await layout.size(l.digest);
    if (size !== l.size)
      throw new DrydockError(
        'IMAGE_INVALID',
        `${where}: layer ${l.digest} has ${size} bytes, ${l.size} declared`,
      );
  }
  return {
    platform,
    manifest: { digest: desc.digest, size: desc.size, mediaType: desc.mediaType },
    config: ref(manifest.config),
    layers: manifest.layers.map(ref),
  };
}
