// The stand-in's "datastore": one JSON file under <root>/var/lib/drydock/standin/, replaced
// atomically, guarded by a lock file (the engine and a test, or a killed and a restarted engine,
// may touch it from different processes). It holds what k3s keeps in its datastore (applied objects,
// ReplicaSet history, Job status) plus what the node knows (imported images, running containers).
import { readFileSync } from 'node:fs';
import { open, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../../core/index.ts';
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // a killed process its parent has not reaped yet is a zombie: it holds nothing any more
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

const inProcess = new Map<string, Promise<unknown>>();

/** Runs fn holding the stand-in lock of this root (in this process and across processes). */
export async function withStateLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const key = standinDir(root);
  const prev = inProcess.get(key) ?? Promise.resolve();
  const run = prev.catch(() => {}).then(() => withFileLock(join(key, 'lock'), fn));
  inProcess.set(
    key,
    run.catch(() => {}),
  );
  return run;
}

async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(path, '..'), { recursive: true });
  const start = Date.now();
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      // a lock of a dead process (an engine killed with SIGKILL) is taken over
      if (Number.isInteger(owner) && owner > 0 && (owner === process.pid ? false : !alive(owner))) {
        await unlink(path).catch(() => {});
        continue;
      }
      if (Date.now() - start > 60_000)
        throw new DrydockError(
          'CLUSTER_UNAVAILABLE',
          `stand-in cluster busy: lock ${path} held by pid ${owner}`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
  }
}
