// The narrow interface between the update engine and the cluster it upgrades. The real driver
// (k3s) uses k3s's own mechanisms: auto-deploy manifests, `k3s ctr -n k8s.io images import`,
// `k3s kubectl get -o json`. The stand-in simulates a cluster under the box root for tests and
// the local demo; it is documented as a simulation. The engine never knows which one it has.
import type { BlobStore } from '../blobstore/index.ts';
import type { WorkloadHealth } from '../engine/api.ts';
import type { ImageRef, Probe, Workload } from '../release/index.ts';

export interface ReleaseId {
  name: string;
  version: string;
}

export interface RenderedManifest {
  /** release part, e.g. "app.yaml"; written as drydock-<name> in the manifests folder */
  name: string;
  /** the YAML text (one or more documents) */
  content: string;
}

export interface ClusterDriver {
  readonly kind: 'k3s' | 'standin';
  /** Cluster reachable and its API answering; k3s version when known. */
  ping(): Promise<{ ok: boolean; message: string; k3sVersion: string | null }>;
  /**
   * Imports the images of a release from the blob store, skipping those already imported (the
   * driver keeps its own record, so a restart does not re-import). Returns counts.
   */
  importImages(
    images: ImageRef[],
    store: BlobStore,
    onProgress?: (done: number, total: number) => void,
  ): Promise<{ imported: number; skipped: number }>;
  /**
   * Makes the cluster run exactly these manifests: each written atomically, files of other releases
   * removed, and objects that were in `previous` but not in `next` deleted explicitly (k3s leaves
   * them when a file goes).
   */
  applyManifests(
    release: ReleaseId,
    next: RenderedManifest[],
    previous: RenderedManifest[] | null,
  ): Promise<void>;
  /** Readiness of each workload: rolled out at its newest generation and ready. */
  workloads(workloads: Workload[]): Promise<WorkloadHealth[]>;
  /** One HTTP probe of a release, as reachable from the box. */
  probe(probe: Probe): Promise<{ ok: boolean; message: string }>;
  /** Runs a hook Job to completion (or failure, or timeout). */
  runJob(job: RenderedManifest, timeoutSeconds: number): Promise<{ ok: boolean; message: string }>;
  /** Copies the cluster datastore and the named volumes into `dir` (a fresh folder). */
  snapshot(dir: string, volumes: { namespace: string; claim: string }[]): Promise<void>;
  /** Puts a snapshot taken by `snapshot` back. */
  restore(dir: string, volumes: { namespace: string; claim: string }[]): Promise<void>;
  /** Installs a k3s binary shipped by a release (real driver only; the stand-in records the version). */
  installK3s(binaryPath: string, version: string): Promise<void>;
  /**
   * Stand-in only (optional): stops the simulated node's containers, e.g. when a test is done with
   * its box; the desired state stays and the next call starts them again. k3s has no such thing.
   */
  shutdown?(): Promise<void>;
}
