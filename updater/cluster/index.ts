// The cluster drivers behind the ClusterDriver contract (api.ts): k3s (the appliance's), kubernetes
// (a cluster the box does not own) and the stand-in (a simulated single node for tests and the
// local demo).
import { DrydockError } from '../../core/index.ts';
import { CLUSTER_KINDS, type ClusterDriver, type ClusterKind } from './api.ts';
import type { ExecFn } from './exec.ts';
import { K3sDriver, type K3sOptions } from './k3s.ts';
import { KubernetesDriver } from './kubernetes.ts';
import { createStandinDriver, type StandinDriver } from './standin/index.ts';

export type * from './api.ts';
export { ApplySet, applySetId, PART_OF_LABEL } from './applyset.ts';
export { atomicWrite } from './atomic.ts';
export { defaultExec, type ExecFn, type ExecResult } from './exec.ts';
export { createK3sDriver, K3sDriver, type K3sOptions } from './k3s.ts';
export { KubeDriver, type Quiesced } from './kube-driver.ts';
export { Kubectl } from './kubectl.ts';
export { createKubernetesDriver, KubernetesDriver, type KubernetesOptions } from './kubernetes.ts';
export {
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
  /** kubernetes only: how to reach the cluster */
  kubernetes?: KubernetesConnection;
}

/** config.yaml's `kubernetes:` (paths are absolute on this machine) */
export interface KubernetesConnection {
  kubeconfig: string;
  kubectl?: string;
  containerdSocket?: string | null;
}

export function createClusterDriver(kind: 'standin', opts: ClusterOptions): StandinDriver;
export function createClusterDriver(kind: ClusterKind, opts: ClusterOptions): ClusterDriver;
export function createClusterDriver(kind: ClusterKind, opts: ClusterOptions): ClusterDriver {
  if (!opts || typeof opts.root !== 'string' || opts.root === '')
    throw new DrydockError('CONFIG_INVALID', 'a cluster driver needs the box root');
  if (kind === 'standin') return createStandinDriver(opts);
  if (kind === 'k3s') return new K3sDriver(opts);
  if (kind === 'kubernetes') {
    const { kubernetes: k, ...rest } = opts;
    if (!k?.kubeconfig)
      throw new DrydockError(
        'CONFIG_INVALID',
        'cluster kubernetes needs kubernetes.kubeconfig in config.yaml',
      );
    return new KubernetesDriver({
      ...rest,
      kubeconfig: k.kubeconfig,
      ...(k.kubectl ? { kubectlPath: k.kubectl } : {}),
      containerdSocket: k.containerdSocket ?? null,
    });
  }
  throw new DrydockError(
    'CONFIG_INVALID',
    `unknown cluster kind ${JSON.stringify(kind)} (one of ${CLUSTER_KINDS.join(', ')})`,
  );
}
