import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError, withFileLock } from '../../../core/index.ts';
import { atomicWrite } from '../atomic.ts';
import type { KubeManifestObject, ObjectRef } from '../manifests.ts';
import type { ImageConfig } from '../oci-layout.ts';
import type { RunningContainer } from './runtime.ts';

export const STANDIN_DIR = 'var/lib/drydock/standin';
/** where k3s's local-path provisioner keeps volume folders */
export const STORAGE_DIR = 'var/lib/rancher/k3s/storage';

export interface StoredObject {
  ref: ObjectRef;
  object: KubeManifestObject;
  uid: string;
  generation: number;
  createdAt: string;
  /** Job status, kept by the Job controller */
  job?: {
    succeeded: number;
    failed: number;
    done: 'Complete' | 'Failed' | null;
    reason?: string;
    message?: string;
  };
}

export interface ReplicaSetRecord {
  name: string;
  uid: string;
  hash: string;
  revision: number;
  /** the pod template this set runs */
  template: Record<string, unknown>;
  replicas: number;
}

export interface ContainerRecord {
  name: string;
  image: string;
  restartCount: number;
  run: RunningContainer | null;
  /** set when the current instance exited */
  exited: { exitCode: number | null; at: number } | null;
  /** the previous instance's end (lastState.terminated) */
  last: { exitCode: number | null; at: number } | null;
  /** why it is not running when it has never run (ErrImageNeverPull …) */
  waiting: string | null;
  ready: boolean;
  probeMessage: string | null;
}

export interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  owner: { kind: string; name: string; uid: string };
  labels: Record<string, string>;
  spec: Record<string, unknown>;
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  createdAt: string;
  containers: ContainerRecord[];
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
}

export interface ImageRecord {
  ref: string;
  manifest: string;
  /** the unpacked rootfs, relative to the stand-in folder */
  rootfs: string;
  config: ImageConfig;
  importedAt: string;
}

export interface StandinState {
  version: 1;
  k3sVersion: string | null;
  serial: number;
  images: Record<string, ImageRecord>;
  objects: Record<string, StoredObject>;
  replicaSets: Record<string, ReplicaSetRecord[]>;
  pods: Record<string, PodRecord>;
}

export const emptyState = (): StandinState => ({
  version: 1,
  k3sVersion: null,
  serial: 0,
  images: {},
  objects: {},
  replicaSets: {},
  pods: {},
});

export function standinDir(root: string): string {
  return join(root, STANDIN_DIR);
}

export async function loadState(root: string): Promise<StandinState> {
  const text = await readFile(join(standinDir(root), 'state.json'), 'utf8').catch(
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    },
  );
  if (text === null) return emptyState();
  try {
    const s = JSON.parse(text) as StandinState;
    if (s.version !== 1) throw new Error(`state version ${String(s.version)}`);
    return s;
  } catch (err) {
    throw new DrydockError(
      'CLUSTER_UNAVAILABLE',
      `stand-in state ${STANDIN_DIR}/state.json is unreadable: ${(err as Error).message}`,
    );
  }
}

export async function saveState(root: string, s: StandinState): Promise<void> {
  await atomicWrite(join(standinDir(root), 'state.json'), JSON.stringify(s), 0o600);
  // every driver call saves: this renews the lease that keeps the box's containers running
  await writeFile(join(standinDir(root), 'lease'), '');
}

const inProcess = new Map<string, Promise<unknown>>();

/** Runs fn holding the stand-in lock of this root (in this process and across processes). */
export async function withStateLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const key = standinDir(root);
  const prev = inProcess.get(key) ?? Promise.resolve();
  const run = prev
    .catch(() => {})
    .then(() =>
      withFileLock(join(key, 'lock'), fn, {
        timeoutMs: 60_000,
        pollMs: 10,
        onTimeout: (owner) =>
          new DrydockError(
            'CLUSTER_UNAVAILABLE',
            `stand-in cluster busy: lock ${key}/lock held by pid ${owner}`,
          ),
      }),
    );
  inProcess.set(
    key,
    run.catch(() => {}),
  );
  return run;
}
