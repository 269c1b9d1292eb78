// release.json: what a release is. Written by `release build`, verified through TUF (its hash is a
// signed target), and trusted by the box only after that. The schema is the one place its shape lives.
import { type Static, Type as T } from '@sinclair/typebox';

const Digest = T.String({
  pattern: '^sha256:[a-f0-9]{64}$',
  description: 'sha256:<hex> of the blob bytes',
});

export const BlobRef = T.Object(
  {
    digest: Digest,
    size: T.Integer({ minimum: 0 }),
    mediaType: T.Optional(T.String({ maxLength: 255 })),
  },
  { additionalProperties: false },
);

export const ImageRef = T.Object(
  {
    /** the reference the manifests use, e.g. docker.io/library/busybox:1.36 or demo.local/web:1.0.0 */
    ref: T.String({ minLength: 1, maxLength: 512 }),
    platform: T.String({ default: 'linux/amd64' }),
    manifest: BlobRef,
    config: BlobRef,
    layers: T.Array(BlobRef),
  },
  { additionalProperties: false },
);

const ManifestRef = T.Object(
  {
    /** file name the k3s driver writes, e.g. "app.yaml" → drydock-app.yaml */
    name: T.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}\\.ya?ml$' }),
    blob: BlobRef,
  },
  { additionalProperties: false },
);

export const Workload = T.Object(
  {
    kind: T.Union([
      T.Literal('Deployment'),
      T.Literal('StatefulSet'),
      T.Literal('DaemonSet'),
      T.Literal('Job'),
    ]),
    namespace: T.String({ default: 'default' }),
    name: T.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);

export const Probe = T.Object(
  {
    name: T.String({ minLength: 1 }),
    /** fetched from the box (host network), e.g. http://127.0.0.1:30080/healthz */
    url: T.String({ pattern: '^https?://' }),
    expectStatus: T.Integer({ default: 200 }),
    /** optional text the body must contain */
    expectBody: T.Optional(T.String()),
    timeoutSeconds: T.Number({ default: 5 }),
  },
  { additionalProperties: false },
);

export const Health = T.Object(
  {
    deadlineSeconds: T.Number({ minimum: 1, maximum: 7200 }),
    workloads: T.Array(Workload),
    probes: T.Array(Probe, { default: [] }),
  },
  { additionalProperties: false },
);

export const Hook = T.Object(
  {
    name: T.String({ minLength: 1 }),
    /** a Job manifest run by the cluster driver, by digest */
    job: BlobRef,
    timeoutSeconds: T.Number({ default: 600 }),
  },
  { additionalProperties: false },
);

export const Hooks = T.Object(
  {
    /** takes the data snapshot instead of the driver's volume copy when given */
    backup: T.Optional(Hook),
    restore: T.Optional(Hook),
    preApply: T.Optional(T.Array(Hook)),
    postApply: T.Optional(T.Array(Hook)),
  },
  { additionalProperties: false },
);

export const Data = T.Object(
  {
    /** true when this release migrates data: rollback then restores the snapshot */
    changesData: T.Boolean({ default: false }),
    /**
     * true when the previous release runs on this release's data: a rollback then keeps the data.
     * Otherwise a rollback restores the snapshot whenever the release has volumes.
     */
    compatible: T.Optional(T.Boolean()),
    /** PersistentVolumeClaims whose contents belong in the snapshot */
    volumes: T.Array(
      T.Object({ namespace: T.String(), claim: T.String() }, { additionalProperties: false }),
      { default: [] },
    ),
  },
  { additionalProperties: false },
);

export const Wave = T.Object(
  {
    /** boxes whose stable seed falls below this fraction (0..1] may take the release ... */
    fraction: T.Number({ exclusiveMinimum: 0, maximum: 1 }),
    /** ... once this many hours have passed since the release was published */
    afterHours: T.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export const Release = T.Object(
  {
    schemaVersion: T.Literal(1),
    name: T.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    version: T.String({ minLength: 5, maxLength: 128, description: 'semver' }),
    channel: T.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', default: 'stable' }),
    upgradeFrom: T.String({ description: 'semver range the running version must satisfy' }),
    createdAt: T.String({ format: 'date-time' }),
    k3s: T.Optional(
      T.Object(
        { version: T.String({ pattern: '^v\\d+\\.\\d+\\.\\d+' }), binary: BlobRef },
        { additionalProperties: false },
      ),
    ),
    images: T.Array(ImageRef),
    manifests: T.Array(ManifestRef, { minItems: 1 }),
    health: Health,
    hooks: T.Optional(Hooks),
    data: T.Optional(Data),
    waves: T.Optional(T.Array(Wave)),
    notes: T.String({ maxLength: 100_000, default: '' }),
  },
  { additionalProperties: false },
);

export type BlobRef = Static<typeof BlobRef>;
export type ImageRef = Static<typeof ImageRef>;
export type Workload = Static<typeof Workload>;
export type Probe = Static<typeof Probe>;
export type Health = Static<typeof Health>;
export type Hook = Static<typeof Hook>;
export type Release = Static<typeof Release>;

/** Every blob a release needs, deduplicated: what a box must hold to run it. */
export function releaseBlobs(r: Release): BlobRef[] {
  const all: BlobRef[] = [];
  if (r.k3s) all.push(r.k3s.binary);
  for (const img of r.images) all.push(img.manifest, img.config, ...img.layers);
  for (const m of r.manifests) all.push(m.blob);
  const h = r.hooks;
  if (h)
    for (const hook of [h.backup, h.restore, ...(h.preApply ?? []), ...(h.postApply ?? [])])
      if (hook) all.push(hook.job);
  return [...new Map(all.map((b) => [b.digest, b])).values()];
}
