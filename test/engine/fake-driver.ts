// A small in-memory cluster for table tests of the engine: it remembers which release's manifests
// it runs, which images and k3s it has, and the volume data a snapshot took, and it can be told
// to fail any call or to keep a version unhealthy. Like a real cluster it outlives the engine:
// a test "crashes" the engine and opens a new one on the same FakeDriver. The stand-in and k3s
// drivers are tested for real elsewhere; this one makes every transition a matter of milliseconds.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../../updater/blobstore/index.ts';
import type { ClusterDriver, ReleaseId, RenderedManifest } from '../../updater/cluster/index.ts';
import type { WorkloadHealth } from '../../updater/engine/index.ts';
import type { ImageRef, Probe, Workload } from '../../updater/release/index.ts';

export type FakeCall =
  | 'ping'
  | 'importImages'
  | 'applyManifests'
  | 'workloads'
  | 'probe'
  | 'runJob'
  | 'snapshot'
  | 'restore'
  | 'installK3s';

export class FakeDriver implements ClusterDriver {
  readonly kind = 'standin' as const;
  /** the release whose manifests the cluster runs, and those manifests */
  running: ReleaseId | null = null;
  manifests: RenderedManifest[] = [];
  images = new Set<string>();
  k3sVersion = 'v1.30.6+k3s1';
  /** what the release's volumes hold; a snapshot copies it, a restore puts it back */
  volumeData = 'initial';
  /** when true, every release the cluster starts writes to its volumes (as a real one would) */
  dataWrites = false;
  /** volumeBytes() reports the data this many times over (a test's "1 TB" volume) */
  volumeScale = 1;
  /** versions whose workloads never become ready */
  unhealthy = new Set<string>();
  /** calls that throw (once each unless `sticky`) */
  failing = new Map<FakeCall, { message: string; sticky?: boolean }>();
  /** every call, in order, for assertions */
  readonly calls: FakeCall[] = [];

  private call(name: FakeCall): void {
    this.calls.push(name);
    const f = this.failing.get(name);
    if (f) {
      if (!f.sticky) this.failing.delete(name);
      throw new Error(`fake ${name} failed: ${f.message}`);
    }
  }

  async ping() {
    this.call('ping');
    return { ok: true, message: 'fake cluster', k3sVersion: this.k3sVersion };
  }

  async importImages(
    images: ImageRef[],
    _store: BlobStore,
    onProgress?: (done: number, total: number) => void,
  ) {
    this.call('importImages');
    let imported = 0;
    for (const [i, img] of images.entries()) {
      if (!this.images.has(img.ref)) {
        this.images.add(img.ref);
        imported++;
      }
      onProgress?.(i + 1, images.length);
    }
    return { imported, skipped: images.length - imported };
  }

  async applyManifests(release: ReleaseId, next: RenderedManifest[], _previous: RenderedManifest[] | null) {
    this.call('applyManifests');
    this.running = next.length ? release : null;
    this.manifests = next;
    if (this.dataWrites && next.length) this.volumeData += `; written by ${release.version}`;
  }

  async workloads(workloads: Workload[]): Promise<WorkloadHealth[]> {
    this.call('workloads');
    const ready = this.running !== null && !this.unhealthy.has(this.running.version);
    return workloads.map((w) => ({
      kind: w.kind,
      namespace: w.namespace,
      name: w.name,
      ready,
      message: ready ? '1/1 ready' : `0/1 ready (fake: ${this.running?.version ?? 'nothing'} is unhealthy)`,
    }));
  }

  async probe(_probe: Probe) {
    this.call('probe');
    const ok = this.running !== null && !this.unhealthy.has(this.running.version);
    return { ok, message: ok ? '200' : 'fake: no answer' };
  }

  async runJob(job: RenderedManifest, _timeoutSeconds: number) {
    this.call('runJob');
    return { ok: true, message: `${job.name} completed` };
  }

  async snapshot(dir: string, volumes: { namespace: string; claim: string }[]) {
    this.call('snapshot');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'volumes.txt'), this.volumeData);
    // as a real driver: the workloads of the volumes stopped for the copy, for a fixed time here
    return volumes.length
      ? { stopped: volumes.map((v) => `Deployment ${v.namespace}/${v.claim}-writer`), downMs: 1234 }
      : { stopped: [], downMs: 0 };
  }

  async volumeBytes(volumes: { namespace: string; claim: string }[]) {
    return volumes.length ? Buffer.byteLength(this.volumeData) * this.volumeScale : 0;
  }

  async restore(dir: string, _volumes: { namespace: string; claim: string }[]) {
    this.call('restore');
    this.volumeData = await readFile(join(dir, 'volumes.txt'), 'utf8');
  }

  async installK3s(_binaryPath: string, version: string) {
    this.call('installK3s');
    this.k3sVersion = version;
  }
}
