// The real driver: k3s's own mechanisms, every program run through the injected exec.
// - manifests: drydock-<part>.yaml written atomically into k3s's auto-deploy folder; k3s's deploy
//   controller applies them (it scans the folder every 15 s). We then wait until k3s's Addon object
//   (named after the file up to its first dot) of each file carries the new
//   file's checksum (so readiness is never read from the old spec), and delete the objects the new
//   release dropped with `kubectl delete` (k3s leaves them when a file or document goes).
// - images: an OCI archive assembled from the blob store, `ctr -n k8s.io images import`, only for
//   images not imported yet; the record lives under the box root, so a restart imports nothing again.
// - readiness: `kubectl get deploy,statefulset,daemonset,job,pods,replicasets -o json` + readiness.ts.
// - snapshot: k3s on the appliance runs its default single-node datastore, SQLite (kine) in
//   server/db/state.db. We copy it online with SQLite's backup API (a consistent copy while k3s
//   runs) and restore it with k3s stopped. With embedded etcd (server/db/etcd exists) we use
//   `k3s etcd-snapshot save` and `k3s server --cluster-reset --cluster-reset-restore-path`.
//   Volumes: the local-path folders of the named claims, copied with `cp -a`.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import type { BlobStore } from '../blobstore/index.ts';
import type { ImageRef, Probe, Workload } from '../release/index.ts';
import type { ClusterDriver, ReleaseId, RenderedManifest } from './api.ts';
import { atomicWrite } from './atomic.ts';
import { defaultExec, type ExecFn } from './exec.ts';
import {
  addonName,
  droppedObjects,
  kubectlTarget,
  parseObjects,
  refOf,
  writeManifestFiles,
} from './manifests.ts';
import { writeOciArchive } from './oci-layout.ts';
import { hasFailed, type KubeObject, workloadHealth } from './readiness.ts';

export interface K3sOptions {
  root: string;
  exec?: ExecFn;
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** how to run kubectl (default: k3s kubectl) */
  kubectl?: string[];
  /** how to run ctr against k3s's containerd (default: k3s ctr); tests use Debian's ctr --address <sock> */
  ctr?: string[];
  /** how to run k3s itself (etcd-snapshot, --version) */
  k3s?: string[];
  /** how to stop/start the k3s service (default: systemctl) */
  systemctl?: string[];
  /** seconds to wait for k3s's deploy controller to take a manifest file */
  applyTimeoutSeconds?: number;
}

const IMPORTS = 'var/lib/drydock/k3s-images.json';
const K3S_SERVER = 'var/lib/rancher/k3s/server';
const K3S_BIN = 'usr/local/bin/k3s';

interface ImportRecord {
  [manifestDigest: string]: { refs: string[]; importedAt: string };
}

export function createK3sDriver(opts: K3sOptions): ClusterDriver {
  const root = opts.root;
  const exec = opts.exec ?? defaultExec;
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const kubectlCmd = opts.kubectl ?? ['k3s', 'kubectl'];
  const ctrCmd = opts.ctr ?? ['k3s', 'ctr'];
  const k3sCmd = opts.k3s ?? ['k3s'];
  const systemctl = opts.systemctl ?? ['systemctl'];
  const tmpDir = join(root, 'var/lib/drydock/tmp');

  const run = async (cmd: string[], args: string[], timeoutMs = 120_000) => {
    const r = await exec(cmd[0]!, [...cmd.slice(1), ...args], { timeoutMs });
    return r;
  };
  const must = async (cmd: string[], args: string[], what: string, timeoutMs?: number) => {
    const r = await run(cmd, args, timeoutMs);
    if (r.code !== 0)
      throw new DrydockError(
        r.code === 127 ? 'TOOL_MISSING' : 'CLUSTER_UNAVAILABLE',
        `${what} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? `exit ${r.code}`}`,
      );
    return r.stdout;
  };
  const kubectl = (args: string[], what: string, timeoutMs?: number) =>
    must(kubectlCmd, args, what, timeoutMs);
  const getJson = async (args: string[], what: string) =>
    JSON.parse(await kubectl([...args, '-o', 'json'], what)) as { items?: KubeObject[] } & KubeObject;

  const readImports = async (): Promise<ImportRecord> =>
    JSON.parse(await readFile(join(root, IMPORTS), 'utf8').catch(() => '{}')) as ImportRecord;

  async function waitApiReady(timeoutSeconds: number): Promise<void> {
    const until = now() + timeoutSeconds * 1000;
    for (;;) {
      const r = await run(kubectlCmd, ['get', '--raw', '/readyz'], 10_000);
      if (r.code === 0 && r.stdout.trim() === 'ok') return;
      if (now() > until)
        throw new DrydockError('CLUSTER_UNAVAILABLE', `k3s API not ready after ${timeoutSeconds} s`);
      await sleep(1000);
    }
  }

  /** Waits until k3s's deploy controller has applied these file contents (Addon spec.checksum). */
  async function waitAddons(next: RenderedManifest[]): Promise<void> {
    const want = new Map(
      next.map((m) => [addonName(m.name), createHash('sha256').update(m.content).digest('hex')]),
    );
    const until = now() + (opts.applyTimeoutSeconds ?? 120) * 1000;
    for (;;) {
      const list = await getJson(['get', 'addons.k3s.cattle.io', '-n', 'kube-system'], 'reading k3s addons');
      const have = new Map(
        (list.items ?? []).map((a) => [
          a.metadata?.name ?? '',
          String((a.spec as { checksum?: string })?.checksum ?? ''),
        ]),
      );
      const pending = [...want].filter(([name, sum]) => have.get(name) !== sum).map(([n]) => n);
      if (pending.length === 0) return;
      if (now() > until)
        throw new DrydockError(
          'CLUSTER_UNAVAILABLE',
          `k3s did not apply ${pending.join(', ')} within ${opts.applyTimeoutSeconds ?? 120} s`,
        );
      await sleep(500);
    }
  }

  async function pvcFolder(namespace: string, claim: string): Promise<string> {
    const pvc = await getJson(['get', 'pvc', claim, '-n', namespace], `reading claim ${namespace}/${claim}`);
    const pvName = (pvc.spec as { volumeName?: string })?.volumeName;
    if (!pvName) throw new DrydockError('NOT_FOUND', `claim ${namespace}/${claim} is not bound to a volume`);
    const pv = await getJson(['get', 'pv', pvName], `reading volume ${pvName}`);
    const spec = pv.spec as { hostPath?: { path?: string }; local?: { path?: string } };
    const path = spec.hostPath?.path ?? spec.local?.path;
    if (!path) throw new DrydockError('NOT_FOUND', `volume ${pvName} is not a local-path folder`);
    return join(root, path);
  }

  const judge = (p: Probe, status: number, body: string) => {
    const expect = p.expectStatus ?? 200;
    if (status !== expect) return { ok: false, message: `HTTP ${status}, expected ${expect}` };
    if (p.expectBody !== undefined && !body.includes(p.expectBody))
      return {
        ok: false,
        message: `HTTP ${status}, but the page does not contain "${p.expectBody}"`,
      };
    return { ok: true, message: `HTTP ${status}` };
  };

  return {
    kind: 'k3s',

    async ping() {
      const r = await run(kubectlCmd, ['get', '--raw', '/readyz'], 10_000);
      const v = await run(k3sCmd, ['--version'], 10_000);
      const version = /k3s version (v\S+)/.exec(v.stdout)?.[1] ?? null;
      if (r.code === 0 && r.stdout.trim() === 'ok')
        return { ok: true, message: 'k3s API ready', k3sVersion: version };
      return {
        ok: false,
        message: `k3s API not ready: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`,
        k3sVersion: version,
      };
    },

    async importImages(
      images: ImageRef[],
      store: BlobStore,
      onProgress?: (done: number, total: number) => void,
    ) {
      const record = await readImports();
      const listImages = async () =>
        new Set(
          (await must(ctrCmd, ['-n', 'k8s.io', 'images', 'ls', '-q'], 'ctr images ls'))
            .split('\n')
            .map((l) => l.trim()),
        );
      // the record spares the import; containerd's own list (one cheap call) catches images that
      // k3s's image garbage collection or an admin removed since, so a rollback never lacks one
      const present = images.length > 0 ? await listImages() : new Set<string>();
      const todo = images.filter(
        (i) => !record[i.manifest.digest]?.refs.includes(i.ref) || !present.has(i.ref),
      );
      const skipped = images.length - todo.length;
      onProgress?.(skipped, images.length);
      if (todo.length === 0) return { imported: 0, skipped };
      await mkdir(tmpDir, { recursive: true });
      const archive = join(tmpDir, `images-${process.pid}-${now()}.tar`);
      try {
        // one archive for all missing images: one import, shared layers stored once
        await writeOciArchive(todo, store, createWriteStream(archive, { mode: 0o600 }));
        await must(ctrCmd, ['-n', 'k8s.io', 'images', 'import', archive], 'ctr images import', 600_000);
        const names = await listImages();
        for (const img of todo) {
          if (!names.has(img.ref))
            throw new DrydockError('IMAGE_INVALID', `containerd did not list ${img.ref} after the import`);
          record[img.manifest.digest] ??= { refs: [], importedAt: new Date(now()).toISOString() };
          const r = record[img.manifest.digest]!;
          if (!r.refs.includes(img.ref)) r.refs.push(img.ref);
        }
        await atomicWrite(join(root, IMPORTS), JSON.stringify(record, null, 1), 0o600);
      } finally {
        await rm(archive, { force: true });
      }
      onProgress?.(images.length, images.length);
      return { imported: todo.length, skipped };
    },

    async applyManifests(_release: ReleaseId, next: RenderedManifest[], previous: RenderedManifest[] | null) {
      const dropped = droppedObjects(next, previous); // parses both: a broken manifest changes nothing
      await writeManifestFiles(root, next);
      await waitAddons(next);
      for (const r of dropped) {
        const ns = r.namespace ? ['-n', r.namespace] : [];
        await kubectl(
          ['delete', '--ignore-not-found', '--wait=false', ...ns, kubectlTarget(r)],
          `deleting ${kubectlTarget(r)}`,
        );
      }
    },

    async workloads(list: Workload[]) {
      const namespaces = [...new Set(list.map((w) => w.namespace ?? 'default'))];
      const items: KubeObject[] = [];
      try {
        for (const ns of namespaces) {
          const r = await getJson(
            ['get', 'deploy,statefulset,daemonset,job,pods,replicasets', '-n', ns],
            `reading namespace ${ns}`,
          );
          items.push(...(r.items ?? []));
        }
      } catch (err) {
        // an API server that does not answer (k3s restarting) means "not ready yet", not a crash
        // of the health wait; the deadline decides
        const why = err instanceof DrydockError ? err.message : String(err);
        return list.map((w) => ({
          kind: w.kind,
          namespace: w.namespace ?? 'default',
          name: w.name,
          ready: false,
          message: `cluster not answering: ${why}`,
        }));
      }
      return workloadHealth(items, list);
    },

    async probe(p: Probe) {
      try {
        const res = await doFetch(p.url, { signal: AbortSignal.timeout((p.timeoutSeconds ?? 5) * 1000) });
        return judge(p, res.status, await res.text());
      } catch (err) {
        return { ok: false, message: `${p.url} unreachable (${(err as Error).message})` };
      }
    },

    async runJob(job: RenderedManifest, timeoutSeconds: number) {
      const objects = parseObjects(job);
      const j = objects[0];
      if (!j || objects.length !== 1 || j.kind !== 'Job')
        throw new DrydockError('BUNDLE_RELEASE_INVALID', `hook ${job.name} must hold exactly one Job`);
      const ref = refOf(j);
      const ns = ref.namespace ?? 'default';
      await kubectl(
        ['delete', 'job', ref.name, '-n', ns, '--ignore-not-found', '--wait=true'],
        `deleting old job ${ref.name}`,
      );
      await mkdir(tmpDir, { recursive: true });
      const file = join(tmpDir, `job-${process.pid}-${now()}.yaml`);
      await writeFile(file, job.content, { mode: 0o600 });
      try {
        await kubectl(['apply', '-f', file], `creating job ${ref.name}`);
      } finally {
        await rm(file, { force: true });
      }
      const until = now() + timeoutSeconds * 1000;
      const w: Workload = { kind: 'Job', namespace: ns, name: ref.name };
      for (;;) {
        const items = (await getJson(['get', 'job,pods', '-n', ns], `reading job ${ref.name}`)).items ?? [];
        const [h] = workloadHealth(items, [w]);
        const done = h!.ready || hasFailed(h!);
        if (done || now() > until) {
          await kubectl(
            [
              'delete',
              'job',
              ref.name,
              '-n',
              ns,
              '--ignore-not-found',
              '--wait=false',
              '--cascade=background',
            ],
            `deleting job ${ref.name}`,
          );
          if (h!.ready) return { ok: true, message: `job ${ref.name} ${h!.message}` };
          if (done) return { ok: false, message: `job ${ref.name} ${h!.message}` };
          return {
            ok: false,
            message: `job ${ref.name} did not finish within ${timeoutSeconds} s (${h!.message})`,
          };
        }
        await sleep(1000);
      }
    },

    async snapshot(dir: string, volumes: { namespace: string; claim: string }[]) {
      await mkdir(join(dir, 'volumes'), { recursive: true });
      const db = join(root, K3S_SERVER, 'db');
      if (await stat(join(db, 'etcd')).catch(() => null)) {
        await must(
          k3sCmd,
          ['etcd-snapshot', 'save', '--dir', dir, '--name', 'drydock'],
          'k3s etcd-snapshot save',
          600_000,
        );
        // k3s names the file drydock-<node>-<timestamp>: remember which one it wrote
        const { readdir } = await import('node:fs/promises');
        const file = (await readdir(dir)).find((f) => f.startsWith('drydock'));
        if (!file)
          throw new DrydockError('CLUSTER_UNAVAILABLE', `k3s etcd-snapshot wrote no snapshot into ${dir}`);
        await writeFile(join(dir, 'datastore'), `etcd\n${file}\n`);
      } else {
        // SQLite's online backup: a consistent copy while k3s keeps running
        const { default: Database } = await import('better-sqlite3');
        const src = new Database(join(db, 'state.db'), { readonly: true, fileMustExist: true });
        try {
          await src.backup(join(dir, 'state.db'));
        } finally {
          src.close();
        }
        await writeFile(join(dir, 'datastore'), 'sqlite');
      }
      for (const v of volumes) {
        const from = await pvcFolder(v.namespace, v.claim);
        await must(
          ['cp'],
          ['-a', from, join(dir, 'volumes', `${v.namespace}_${v.claim}`)],
          `copying volume ${v.namespace}/${v.claim}`,
          3_600_000,
        );
        await writeFile(join(dir, 'volumes', `${v.namespace}_${v.claim}.path`), from);
      }
    },

    async restore(dir: string, volumes: { namespace: string; claim: string }[]) {
      const [kind, etcdFile] = (await readFile(join(dir, 'datastore'), 'utf8').catch(() => ''))
        .trim()
        .split('\n');
      if (kind !== 'sqlite' && kind !== 'etcd')
        throw new DrydockError('NOT_FOUND', `no k3s snapshot in ${dir}`);
      const folders: [string, string][] = [];
      for (const v of volumes) {
        const name = `${v.namespace}_${v.claim}`;
        const to = (await readFile(join(dir, 'volumes', `${name}.path`), 'utf8').catch(() => '')).trim();
        if (to) folders.push([join(dir, 'volumes', name), to]);
      }
      await must(systemctl, ['stop', 'k3s'], 'stopping k3s', 300_000);
      try {
        const db = join(root, K3S_SERVER, 'db');
        if (kind === 'sqlite') {
          for (const f of ['state.db-wal', 'state.db-shm']) await rm(join(db, f), { force: true });
          await atomicWrite(join(db, 'state.db'), await readFile(join(dir, 'state.db')), 0o600);
        } else {
          await must(
            k3sCmd,
            ['server', '--cluster-reset', `--cluster-reset-restore-path=${join(dir, etcdFile ?? '')}`],
            'k3s etcd restore',
            900_000,
          );
        }
        for (const [from, to] of folders) {
          await rm(to, { recursive: true, force: true });
          await must(['cp'], ['-a', from, to], `restoring volume ${to}`, 3_600_000);
        }
      } finally {
        await must(systemctl, ['start', 'k3s'], 'starting k3s', 300_000);
      }
      await waitApiReady(300);
    },

    async installK3s(binaryPath: string, version: string) {
      const bin = await readFile(binaryPath).catch(() => {
        throw new DrydockError('BLOB_MISSING', `k3s binary ${binaryPath} not found`);
      });
      await atomicWrite(join(root, K3S_BIN), bin, 0o755);
      await must(systemctl, ['restart', 'k3s'], 'restarting k3s', 300_000);
      await waitApiReady(300);
      const v = await must(k3sCmd, ['--version'], 'k3s --version');
      if (!v.includes(version))
        throw new DrydockError(
          'CLUSTER_UNAVAILABLE',
          `k3s reports ${v.split('\n')[0]} after installing ${version}`,
        );
    },
  };
}
