// The appliance's driver: k3s. Everything a real cluster has goes through kube-driver.ts (server-side
// apply with an ApplySet, `k3s ctr` image import, readiness, hook Jobs, volume copies with their
// workloads stopped); this file adds what only k3s has:
// - the datastore: k3s's default single-node datastore is SQLite (kine) in server/db/state.db. It is
//   copied online with SQLite's backup API (a consistent copy while k3s runs) and put back with k3s
//   stopped. With embedded etcd (server/db/etcd exists): `k3s etcd-snapshot save`, restored by
//   `k3s server --cluster-reset --cluster-reset-restore-path`.
// - stopping: k3s.service has KillMode=process, so `systemctl stop k3s` leaves pods running. A
//   restore therefore first stops the workloads that mount the volumes through the API (quiesce),
//   then stops k3s, puts the datastore and the folders back, and starts k3s.
// - the k3s binary a release ships (installK3s).
// - releases written by earlier Drydock versions into k3s's auto-deploy folder: those files are
//   removed before the first server-side apply, or k3s would re-apply them over it at its restart
//   (k3s keeps the objects of a removed file; the ApplySet then owns them).
import { mkdir, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import type { ReleaseId, RenderedManifest, VolumeRef } from './api.ts';
import { atomicWrite, syncDir } from './atomic.ts';
import { KubeDriver, type KubeDriverOptions } from './kube-driver.ts';
import { FILE_PREFIX, MANIFESTS_DIR } from './manifests.ts';

export interface K3sOptions extends Partial<Omit<KubeDriverOptions, 'root' | 'ctr' | 'importsFile'>> {
  root: string;
  /** how to run ctr against k3s's containerd (default: k3s ctr); tests use Debian's ctr --address <sock> */
  ctr?: string[];
  /** how to run k3s itself (etcd-snapshot, --version) */
  k3s?: string[];
  /** how to stop/start the k3s service (default: systemctl) */
  systemctl?: string[];
  /** k3s's --data-dir, box-relative (default var/lib/rancher/k3s) */
  dataDir?: string;
  /** where the node's paths (a volume's hostPath) are seen from (default: the box root) */
  nodeRoot?: string;
}

const K3S_BIN = 'usr/local/bin/k3s';

export class K3sDriver extends KubeDriver {
  readonly kind = 'k3s' as const;
  readonly #k3s: string[];
  readonly #systemctl: string[];
  readonly #db: string;
  readonly #nodeRoot: string;

  constructor(opts: K3sOptions) {
    super({
      ...opts,
      kubectl: opts.kubectl ?? ['k3s', 'kubectl'],
      ctr: opts.ctr ?? ['k3s', 'ctr'],
      importsFile: 'var/lib/drydock/k3s-images.json',
    });
    this.#k3s = opts.k3s ?? ['k3s'];
    this.#systemctl = opts.systemctl ?? ['systemctl'];
    this.#db = join(opts.root, opts.dataDir ?? 'var/lib/rancher/k3s', 'server/db');
    this.#nodeRoot = opts.nodeRoot ?? opts.root;
  }

  protected override hostPath(path: string): string {
    return join(this.#nodeRoot, path);
  }

  async ping() {
    const r = await this.kubectl.ready();
    const v = await this.exec(this.#k3s[0]!, [...this.#k3s.slice(1), '--version'], { timeoutMs: 10_000 });
    const version = /k3s version (v\S+)/.exec(v.stdout)?.[1] ?? null;
    return { ok: r.ok, message: r.ok ? 'k3s API ready' : `k3s ${r.message}`, k3sVersion: version };
  }

  override async applyManifests(
    release: ReleaseId,
    next: RenderedManifest[],
    previous: RenderedManifest[] | null,
  ) {
    await super.applyManifests(release, next, previous);
    await this.retireAutoDeployFiles();
  }

  /** Removes drydock-*.yaml files an earlier Drydock wrote into k3s's auto-deploy folder. */
  private async retireAutoDeployFiles(): Promise<void> {
    const dir = join(this.root, MANIFESTS_DIR);
    const old = (await readdir(dir).catch(() => [] as string[])).filter(
      (f) => f.startsWith(FILE_PREFIX) && /\.ya?ml$/.test(f),
    );
    for (const f of old) await unlink(join(dir, f));
    if (old.length) await syncDir(dir);
  }

  async snapshot(dir: string, volumes: VolumeRef[]) {
    await mkdir(dir, { recursive: true });
    // the datastore first, with every workload running: a restore brings back their replica counts
    if (await stat(join(this.#db, 'etcd')).catch(() => null)) {
      await this.must(
        this.#k3s,
        ['etcd-snapshot', 'save', '--dir', dir, '--name', 'drydock'],
        'k3s etcd-snapshot save',
        600_000,
      );
      // k3s names the file drydock-<node>-<timestamp>: remember which one it wrote
      const file = (await readdir(dir)).find((f) => f.startsWith('drydock'));
      if (!file)
        throw new DrydockError('CLUSTER_UNAVAILABLE', `k3s etcd-snapshot wrote no snapshot into ${dir}`);
      await writeFile(join(dir, 'datastore'), `etcd\n${file}\n`);
    } else {
      // SQLite's online backup: a consistent copy while k3s keeps running
      const { default: Database } = await import('better-sqlite3');
      const src = new Database(join(this.#db, 'state.db'), { readonly: true, fileMustExist: true });
      try {
        await src.backup(join(dir, 'state.db'));
      } finally {
        src.close();
      }
      await writeFile(join(dir, 'datastore'), 'sqlite');
    }
    return this.copyVolumes(dir, volumes);
  }

  async restore(dir: string, volumes: VolumeRef[]) {
    const [kind, etcdFile] = (await readFile(join(dir, 'datastore'), 'utf8').catch(() => ''))
      .trim()
      .split('\n');
    if (kind !== 'sqlite' && kind !== 'etcd')
      throw new DrydockError('NOT_FOUND', `no k3s snapshot in ${dir}`);
    const folders = await this.snapshotFolders(dir, volumes);
    // k3s.service is KillMode=process: stopping it leaves pods running, so the ones that write the
    // volumes are stopped through the API first
    const q = await this.quiesce(volumes);
    let datastoreBack = false;
    await this.must(this.#systemctl, ['stop', 'k3s'], 'stopping k3s', 300_000);
    try {
      if (kind === 'sqlite') {
        for (const f of ['state.db-wal', 'state.db-shm']) await rm(join(this.#db, f), { force: true });
        await atomicWrite(join(this.#db, 'state.db'), await readFile(join(dir, 'state.db')), 0o600);
      } else {
        await this.must(
          this.#k3s,
          ['server', '--cluster-reset', `--cluster-reset-restore-path=${join(dir, etcdFile ?? '')}`],
          'k3s etcd restore',
          900_000,
        );
      }
      // the datastore now holds the replica counts of the snapshot: nothing to scale back
      datastoreBack = true;
      await this.putFoldersBack(folders);
    } finally {
      await this.must(this.#systemctl, ['start', 'k3s'], 'starting k3s', 300_000);
      await this.waitApiReady(300);
      if (!datastoreBack) await this.resume(q);
    }
  }

  async installK3s(binaryPath: string, version: string) {
    const bin = await readFile(binaryPath).catch(() => {
      throw new DrydockError('BLOB_MISSING', `k3s binary ${binaryPath} not found`);
    });
    await atomicWrite(join(this.root, K3S_BIN), bin, 0o755);
    await this.must(this.#systemctl, ['restart', 'k3s'], 'restarting k3s', 300_000);
    await this.waitApiReady(300);
    const v = await this.must(this.#k3s, ['--version'], 'k3s --version');
    if (!v.includes(version))
      throw new DrydockError(
        'CLUSTER_UNAVAILABLE',
        `k3s reports ${v.split('\n')[0]} after installing ${version}`,
      );
  }
}

export const createK3sDriver = (opts: K3sOptions) => new K3sDriver(opts);
