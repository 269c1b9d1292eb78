// OCI image layouts assembled from the blob store, for the two consumers of a release's images:
// containerd (`ctr images import` takes a tar of a layout) and umoci (the stand-in unpacks a rootfs
// from a layout folder). The blobs were verified when they entered the store; this only arranges them.
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { DrydockError } from '../../core/index.ts';
import type { BlobStore } from '../blobstore/index.ts';
import type { BlobRef, ImageRef } from '../release/index.ts';

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

/** The tag part of a reference: demo.local/x/web:1.0.0 → 1.0.0 (latest when none). */
export function tagOf(ref: string): string {
  const at = ref.indexOf('@');
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : 'latest';
}

function indexJson(images: ImageRef[]): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: images.map((img) => ({
      mediaType: img.manifest.mediaType ?? MANIFEST_TYPE,
      digest: img.manifest.digest,
      size: img.manifest.size,
      // containerd names the imported image by io.containerd.image.name; the ref.name is the tag
      annotations: {
        'io.containerd.image.name': img.ref,
        'org.opencontainers.image.ref.name': tagOf(img.ref),
      },
    })),
  });
}

function blobsOf(images: ImageRef[]): BlobRef[] {
  const all = images.flatMap((i) => [i.manifest, i.config, ...i.layers]);
  return [...new Map(all.map((b) => [b.digest, b])).values()];
}

async function requireBlobs(images: ImageRef[], store: BlobStore): Promise<BlobRef[]> {
  const blobs = blobsOf(images);
  for (const b of blobs)
    if (!(await store.has(b.digest, b.size)))
      throw new DrydockError('BLOB_MISSING', `image blob ${b.digest} is not in the blob store`);
  return blobs;
}

/** Streams a tar of an OCI layout holding `images` into `out` (never the whole archive in memory). */
export async function writeOciArchive(
  images: ImageRef[],
  store: BlobStore,
  out: NodeJS.WritableStream,
): Promise<void> {
  const blobs = await requireBlobs(images, store);
  const p = pack();
  const done = pipeline(p, out);
  const add = (name: string, body: string) =>
    new Promise<void>((resolve, reject) =>
      p.entry({ name, mtime: new Date(0) }, body, (e) => (e ? reject(e) : resolve())),
    );
  await add('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await add('index.json', indexJson(images));
  for (const b of blobs) {
    const entry = p.entry({ name: `blobs/sha256/${b.digest.slice(7)}`, size: b.size, mtime: new Date(0) });
    await pipeline(store.read(b.digest) as NodeJS.ReadableStream, entry);
  }
  p.finalize();
  await done;
}

/** An OCI layout folder for `images`; blobs hard-linked from the store (copied across filesystems). */
export async function writeOciLayoutDir(images: ImageRef[], store: BlobStore, dir: string): Promise<void> {
  const blobs = await requireBlobs(images, store);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const b of blobs) {
    const to = join(dir, 'blobs', 'sha256', b.digest.slice(7));
    await link(store.path(b.digest), to).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST') return;
      if (e.code === 'EXDEV' || e.code === 'EPERM') return copyFile(store.path(b.digest), to);
      throw e;
    });
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), indexJson(images));
}

/** The image config (entrypoint, env …) read from the store and checked against its manifest. */
export async function readImageConfig(img: ImageRef, store: BlobStore): Promise<ImageConfig> {
  const read = async (b: BlobRef) => {
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(store.path(b.digest))) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  };
  const manifest = (await read(img.manifest)) as { config?: { digest?: string } };
  if (manifest.config?.digest !== img.config.digest)
    throw new DrydockError(
      'IMAGE_INVALID',
      `image ${img.ref}: its manifest names another config than release.json`,
    );
  const config = (await read(img.config)) as { config?: ImageConfig };
  return config.config ?? {};
}
