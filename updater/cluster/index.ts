// The cluster drivers behind the ClusterDriver contract (api.ts): the real k3s driver and the
// stand-in (a simulated single node for tests and the local demo).
import { DrydockError } from '../../core/index.ts';
import type { ClusterDriver } from './api.ts';
import type { ExecFn } from './exec.ts';
import { createK3sDriver, type K3sOptions } from './k3s.ts';
import { createStandinDriver, type StandinDriver } from './standin/index.ts';

export type * from './api.ts';
export { atomicWrite } from './atomic.ts';
export { defaultExec, type ExecFn, type ExecResult } from './exec.ts';
export { createK3sDriver, type K3sOptions } from './k3s.ts';
export {
  droppedObjects,
  FILE_PREFIX,
  MANIFESTS_DIR,
  parseObjects,
  readManifestFiles,
  writeManifestFiles,
} from './manifests.ts';
export { readImageConfig, writeOciArchive, writeOciLayoutDir } from './oci-layout.ts';
export { hasFailed, type KubeList, type KubeObject, podProblem, workloadHealth } from './readiness.ts';
export {
  createStandinDriver,
  OBSERVE_MS,
  STANDIN_DIR,
  type StandinDriver,
  stopStandin,
} from './standin/index.ts';

export interface ClusterOptions extends Partial<Omit<K3sOptions, 'root'>> {
  /** the box root: every on-box path lives under it */
  root: string;
  exec?: ExecFn;
  fetch?: typeof fetch;
  now?: () => number;
  /** stand-in only: see StandinOptions.leaseSeconds */
  leaseSeconds?: number;
}

export function createClusterDriver(kind: 'standin', opts: ClusterOptions): StandinDriver;
export function createClusterDriver(kind: 'k3s' | 'standin', opts: ClusterOptions): ClusterDriver;
export function createClusterDriver(kind: 'k3s' | 'standin', opts: ClusterOptions): ClusterDriver {
  if (!opts || typeof opts.root !== 'string' || opts.root === '')
    throw new DrydockError('CONFIG_INVALID', 'a cluster driver needs the box root');
  if (kind === 'standin') return createStandinDriver(opts);
  if (kind === 'k3s') return createK3sDriver(opts);
  throw new DrydockError('CONFIG_INVALID', `unknown cluster kind ${JSON.stringify(kind)} (k3s or standin)`);
}
