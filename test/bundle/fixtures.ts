// Small real inputs for bundle tests: OCI image layouts written by hand (index.json, manifest,
// config, layer blobs, as skopeo/umoci lay them out), manifests, notes and a release spec.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface FixtureImage {
  tag: string;
  layers: Buffer[];
}

/** Writes an OCI image layout folder holding the given images; returns their manifest digests. */
export async function writeLayout(dir: string, images: FixtureImage[]): Promise<string[]> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer) => {
    const hex = sha(b);
    await writeFile(join(dir, 'blobs', 'sha256', hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  const manifests = [];
  for (const img of images) {
    const layers = [];
    for (const l of img.layers)
      layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...(await put(l)) });
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await put(config)) },
        layers,
      }),
    );
    const m = await put(manifest);
    manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...m,
      annotations: { 'org.opencontainers.image.ref.name': img.tag },
    });
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
  return manifests.map((m) => m.digest);
}

export interface SpecOptions {
  version?: string;
  upgradeFrom?: string;
  /** layers of the web image; the base image stays the same across versions */
  webLayer?: Buffer;
  extra?: string;
}

/** A release folder: images/oci (layout), manifests/web.yaml, notes.md and release.yaml. */
export async function writeRelease(dir: string, o: SpecOptions = {}): Promise<string> {
  const version = o.version ?? '1.0.0';
  await mkdir(join(dir, 'manifests'), { recursive: true });
  await writeLayout(join(dir, 'images', 'oci'), [
    { tag: 'base', layers: [Buffer.from('base layer, shared by every version')] },
    {
      tag: 'web',
      layers: [
        Buffer.from('base layer, shared by every version'),
        o.webLayer ?? Buffer.from(`web ${version}`),
      ],
    },
  ]);
  await writeFile(
    join(dir, 'manifests', 'web.yaml'),
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo}\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: "demo.local/web:${version}"}]\n`,
  );
  await writeFile(join(dir, 'notes.md'), `# ${version}\n\nRelease notes.\n`);
  const spec = [
    'name: drydock-demo',
    `version: ${version}`,
    'channel: stable',
    `upgradeFrom: "${o.upgradeFrom ?? '>=0.0.0'}"`,
    'images:',
    '  - ref: demo.local/base:1',
    '    layout: images/oci',
    '    tag: base',
    `  - ref: demo.local/web:${version}`,
    '    layout: images/oci',
    '    tag: web',
    'manifests: [manifests/web.yaml]',
    'health:',
    '  deadlineSeconds: 20',
    '  workloads: [{ kind: Deployment, namespace: demo, name: web }]',
    `  probes: [{ name: page, url: "http://127.0.0.1:30080/", expectBody: "${version}" }]`,
    'notes: notes.md',
    o.extra ?? '',
  ].join('\n');
  const path = join(dir, 'release.yaml');
  await writeFile(path, `${spec}\n`);
  return path;
}

export const randomLayer = (n: number) => randomBytes(n);
