// In-test parts for the state-machine tests that must not wait for the real ones: a tiny cluster
// driver that keeps applied manifests in memory (a workload is ready unless its manifest says
// "broken"), and a bundle reader for a JSON "bundle" {release, blobs}. The end-to-end tests use
// H2's stand-in and H1's real bundles instead.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { BlobStore } from '../../updater/blobstore/index.ts';
import type { ClusterDriver, RenderedManifest } from '../../updater/cluster/index.ts';
import type { ReadBundle } from '../../updater/engine/index.ts';
import { parseRelease, type Release } from '../../updater/release/index.ts';

export class FakeDriver implements ClusterDriver {
  readonly kind = 'standin' as const;
  applied: RenderedManifest[] = [];
  appliedVersion: string | null = null;
  imported = new Set<string>();
  importCount = 0;
  calls: string[] = [];
  async ping() {
    return { ok: true, message: 'ok', k3sVersion: 'v1.31.4+k3s1' };
  }
  async importImages(images: Release['images'], store: BlobStore) {
    let imported = 0;
    for (const i of images) {
      if (this.imported.has(i.manifest.digest)) continue;
      if (!(await store.has(i.manifest.digest))) throw new Error(`image ${i.ref} blob missing`);
      this.imported.add(i.manifest.digest);
      imported++;
      this.importCount++;
    }
    this.calls.push('import');
    return { imported, skipped: images.length - imported };
  }
  async applyManifests(release: { version: string }, next: RenderedManifest[]) {
    this.applied = next;
    this.appliedVersion = release.version;
    this.calls.push(`apply ${release.version}`);
  }
  async workloads(ws: Release['health']['workloads']) {
    const broken = this.applied.some((m) => m.content.includes('broken'));
    return ws.map((w) => ({
      ...w,
      ready: !broken,
      message: broken ? 'CrashLoopBackOff: exited 1' : '1/1 ready',
    }));
  }
  async probe() {
    return { ok: true, message: '200' };
  }
  async runJob() {
    return { ok: true, message: 'done' };
  }
  async snapshot(dir: string) {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    await writeFile(`${dir}/datastore`, `state of ${this.appliedVersion}`);
    this.calls.push('snapshot');
  }
  async restore() {
    this.calls.push('restore');
  }
  async installK3s(_p: string, v: string) {
    this.calls.push(`k3s ${v}`);
  }
}

const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A JSON "bundle": {release, blobs: {digest: base64}}; trust is not checked by the fake reader. */
export async function fakeBundle(
  path: string,
  version: string,
  opts: { upgradeFrom?: string; broken?: boolean; k3s?: string; deadline?: number } = {},
): Promise<Release> {
  const manifest = Buffer.from(
    `kind: Deployment\nname: web\nversion: ${version}\n${opts.broken ? 'broken: yes\n' : ''}`,
  );
  const layer = Buffer.from(`layer of ${version}`);
  const config = Buffer.from(`config of ${version}`);
  const imgManifest = Buffer.from(`image manifest ${version}`);
  const shared = Buffer.from('shared base layer');
  const k3sBin = Buffer.from(`k3s ${opts.k3s}`);
  const blobs = [manifest, layer, config, imgManifest, shared, ...(opts.k3s ? [k3sBin] : [])];
  const ref = (b: Buffer) => ({ digest: digest(b), size: b.length });
  const release = parseRelease({
    schemaVersion: 1,
    name: 'demo',
    version,
    channel: 'stable',
    upgradeFrom: opts.upgradeFrom ?? '>=0.0.0',
    createdAt: '2026-01-01T00:00:00Z',
    ...(opts.k3s ? { k3s: { version: opts.k3s, binary: ref(k3sBin) } } : {}),
    images: [
      {
        ref: `demo/web:${version}`,
        platform: 'linux/amd64',
        manifest: ref(imgManifest),
        config: ref(config),
        layers: [ref(shared), ref(layer)],
      },
    ],
    manifests: [{ name: 'web.yaml', blob: ref(manifest) }],
    health: {
      deadlineSeconds: opts.deadline ?? 1,
      workloads: [{ kind: 'Deployment', namespace: 'demo', name: 'web' }],
      probes: [],
    },
    notes: '',
  });
  await writeFile(
    path,
    JSON.stringify({
      release,
      blobs: Object.fromEntries(blobs.map((b) => [digest(b), b.toString('base64')])),
    }),
  );
  return release;
}

export const fakeReadBundle: ReadBundle = async (path, opts) => {
  let doc: { release: unknown; blobs: Record<string, string> };
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    const { DrydockError } = await import('../../core/index.ts');
    throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${path} is not a bundle`);
  }
  const release = parseRelease(doc.release);
  if (opts.blobs)
    for (const [d, b64] of Object.entries(doc.blobs)) {
      const buf = Buffer.from(b64, 'base64');
      await opts.blobs.put(
        d,
        buf.length,
        (async function* () {
          yield buf;
        })(),
      );
    }
  return { release, roots: [] };
};

export const fakeReadBundleHead = async (path: string) => {
  const { release } = await fakeReadBundle(path, { trustedRoot: null, blobs: null });
  return { release };
};
