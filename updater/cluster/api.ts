// The narrow interface between the update engine and the cluster it upgrades. The real drivers
// (k3s on the appliance, kubernetes for an existing cluster) share kube-driver.ts: server-side apply
// with an ApplySet, `ctr -n k8s.io images import`, `kubectl get -o json`. The stand-in simulates a
// cluster under the box root for tests and the local demo; it is documented as a simulation. The
// engine never knows which one it has.
import type { BlobStore } from '../blobstore/index.ts';
import type { WorkloadHealth } from '../engine/api.ts';
import type { ImageRef, Probe, Workload } from '../release/index.ts';

/** The drivers, in the order the CLI lists them; `k3s` is the appliance's. */
export const CLUSTER_KINDS = ['k3s', 'kubernetes', 'standin'] as const;
export type ClusterKind = (typeof CLUSTER_KINDS)[number];

/** A volume a release keeps data in: a PersistentVolumeClaim. */
export interface VolumeRef {
  namespace: string;
  claim: string;
}

/** What a snapshot stopped: "Deployment demo/db" and the like, and from stop to start again. */
export interface SnapshotTaken {
  stopped: string[];
  downMs: number;
}

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
  readonly kind: ClusterKind;
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
   * Makes the cluster run exactly these manifests: every object applied, and the objects of this
   * release that `next` no longer has deleted (whether `previous` lists them or not: a crash or a
   * rollback may have left others).
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
  /**
   * Copies the cluster datastore (where the driver has one) and the named volumes into `dir` (a
   * fresh folder), the workloads that mount the volumes stopped while they are copied; says which
   * were stopped and for how long (the backend's downtime, shown in the history).
   */
  snapshot(dir: string, volumes: VolumeRef[]): Promise<SnapshotTaken>;
  /** Bytes the named volumes hold now (what a snapshot of them will copy); a missing claim is 0. */
  volumeBytes(volumes: VolumeRef[]): Promise<number>;
  /** Puts a snapshot taken by `snapshot` back, the workloads that mount the volumes stopped. */
  restore(dir: string, volumes: VolumeRef[]): Promise<void>;
  /**
   * Installs a k3s binary shipped by a release (k3s driver; the stand-in records the version; a
   * cluster the box does not own refuses).
   */
  installK3s(binaryPath: string, version: string): Promise<void>;
  /**
   * Stand-in only (optional): stops the simulated node's containers, e.g. when a test is done with
   * its box; the desired state stays and the next call starts them again. k3s has no such thing.
   */
  shutdown?(): Promise<void>;
}
