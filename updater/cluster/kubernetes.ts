// The driver for a cluster the box does not own (`drydock box init --cluster kubernetes
// --kubeconfig FILE`): the same engine, health gate and rollback as on the appliance, through
// kubectl with the given kubeconfig. What differs from k3s (k3s.ts):
// - no datastore copy: the cluster's objects come back by applying the earlier release (server-side
//   apply with the ApplySet puts back what it dropped and deletes what it added); a snapshot holds
//   the release's volumes, when they are local folders this machine can reach (hostPath or local
//   volumes, e.g. local-path-provisioner on a single node);
// - images: imported with `ctr --address SOCKET` into the node's containerd when a socket is given
//   (a single node, no registry), otherwise the cluster pulls them from its registry;
// - the k3s binary a release ships is for the appliance: on this cluster it is not installed.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import type { VolumeRef } from './api.ts';
import { KubeDriver, type KubeDriverOptions } from './kube-driver.ts';

export interface KubernetesOptions
  extends Partial<Omit<KubeDriverOptions, 'root' | 'kubectl' | 'ctr' | 'importsFile'>> {
  root: string;
  /** the kubeconfig file (absolute) */
  kubeconfig: string;
  /** the kubectl program (default: kubectl on PATH) */
  kubectlPath?: string;
  /** the node's containerd socket, for images imported without a registry */
  containerdSocket?: string | null;
}

export class KubernetesDriver extends KubeDriver {
  readonly kind = 'kubernetes' as const;

  constructor(opts: KubernetesOptions) {
    if (!opts.kubeconfig)
      throw new DrydockError('CONFIG_INVALID', 'the kubernetes driver needs a kubeconfig');
    super({
      ...opts,
      kubectl: [opts.kubectlPath ?? 'kubectl', '--kubeconfig', opts.kubeconfig],
      ctr: opts.containerdSocket ? ['ctr', '--address', opts.containerdSocket] : null,
      importsFile: 'var/lib/drydock/kube-images.json',
    });
  }

  async ping() {
    const r = await this.kubectl.ready();
    return { ok: r.ok, message: r.ok ? 'Kubernetes API ready' : `Kubernetes ${r.message}`, k3sVersion: null };
  }

  async snapshot(dir: string, volumes: VolumeRef[]) {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'datastore'), 'none');
    return this.copyVolumes(dir, volumes);
  }

  async restore(dir: string, volumes: VolumeRef[]) {
    const kind = (await readFile(join(dir, 'datastore'), 'utf8').catch(() => '')).trim();
    if (kind !== 'none')
      throw new DrydockError('NOT_FOUND', `no snapshot of this cluster's volumes in ${dir}`);
    const folders = await this.snapshotFolders(dir, volumes);
    const q = await this.quiesce(volumes);
    try {
      await this.putFoldersBack(folders);
    } finally {
      await this.resume(q);
    }
  }

  async installK3s(_binaryPath: string, _version: string) {
    // deliberate: the release's k3s is the appliance's own; this cluster's version is its owner's
  }
}

export const createKubernetesDriver = (opts: KubernetesOptions) => new KubernetesDriver(opts);
