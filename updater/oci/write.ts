// A minimal OCI image-layout writer: deterministic tar layers (fixed mtime, owner 0:0, sorted
// entries), gzip, config, manifest, and an index.json naming each image by its
// org.opencontainers.image.ref.name. Same input bytes → same digests, so the demo images
// (examples/demo, and the delta between demo releases) and the Grafana plugin carrier
// (appliance/backend/plugin-image.ts, pinned in images.lock.yaml) are reproducible on any machine.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

export type LayerEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; mode?: number; content: Buffer | string }
  | { path: string; type: 'symlink'; target: string };

export interface ImageSpec {
  /** org.opencontainers.image.ref.name in index.json, e.g. web-1.0.0 */
  tag: string;
  layers: LayerEntry[][];
  config: {
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    WorkingDir?: string;
    ExposedPorts?: Record<string, Record<string, never>>;
    Labels?: Record<string, string>;
  };
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

// a fixed timestamp keeps layers and configs byte-identical between builds
const EPOCH = new Date('2026-01-01T00:00:00Z');

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A tar of the entries, sorted by path, with fixed metadata. */
async function tarLayer(entries: LayerEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const base = { mtime: EPOCH, uid: 0, gid: 0, uname: 'root', gname: 'root' };
  for (const e of sorted) {
    const name = e.path.replace(/^\/+/, '');
    if (e.type === 'dir') p.entry({ ...base, name: `${name}/`, type: 'directory', mode: e.mode ?? 0o755 });
    else if (e.type === 'symlink')
      p.entry({ ...base, name, type: 'symlink', linkname: e.target, mode: 0o777 });
    else {
      const body = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
      p.entry({ ...base, name, type: 'file', mode: e.mode ?? 0o644, size: body.length }, body);
    }
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Writes the images into an OCI image-layout folder (created or extended); returns their manifests. */
export async function writeLayout(dir: string, images: ImageSpec[]): Promise<Descriptor[]> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer) => {
    const digest = sha256(b);
    const path = join(blobs, digest.slice(7));
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, b);
    await rename(tmp, path);
    return { digest, size: b.length };
  };
  const manifests: Descriptor[] = [];
  for (const img of images) {
    const layerDescs: Descriptor[] = [];
    const diffIds: string[] = [];
    for (const entries of img.layers) {
      const tar = await tarLayer(entries);
      diffIds.push(sha256(tar));
      const gz = gzipSync(tar, { level: 9 });
      layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await put(gz)) });
    }
    const config = {
      created: EPOCH.toISOString(),
      architecture: 'amd64',
      os: 'linux',
      config: img.config,
      rootfs: { type: 'layers', diff_ids: diffIds },
      // these bytes are in every digest above: the pinned plugin carrier's included
      history: img.layers.map(() => ({ created: EPOCH.toISOString(), created_by: 'drydock examples/demo' })),
    };
    const configDesc = {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      ...(await put(Buffer.from(JSON.stringify(config)))),
    };
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: configDesc,
      layers: layerDescs,
    };
    const m = await put(Buffer.from(JSON.stringify(manifest)));
    manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...m,
      annotations: { 'org.opencontainers.image.ref.name': img.tag },
      platform: { architecture: 'amd64', os: 'linux' },
    });
  }
  // keep images of other tags already in the layout; replace those of the same tag
  let existing: Descriptor[] = [];
  try {
    existing = (JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] })
      .manifests;
  } catch {
    existing = [];
  }
  const tags = new Set(images.map((i) => i.tag));
  const all = [
    ...existing.filter((d) => !tags.has(d.annotations?.['org.opencontainers.image.ref.name'] ?? '')),
    ...manifests,
  ];
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: all };
  await writeFile(join(dir, 'index.json.tmp'), JSON.stringify(index, null, 2));
  await rename(join(dir, 'index.json.tmp'), join(dir, 'index.json'));
  return manifests;
}
