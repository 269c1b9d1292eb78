// What the k3s driver and the driver for any other cluster share: they talk to a real API server
// through kubectl. Manifests go through server-side apply with an ApplySet (applyset.ts), images
// into the node's containerd with `ctr images import` (when the driver has one), readiness by the
// rules of `kubectl rollout status` (readiness.ts), hook Jobs run to completion, and the volumes of
// a snapshot are copied with the workloads that mount them stopped (quiesce).
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import type { BlobStore } from '../blobstore/index.ts';
import type { ImageRef, Probe, Workload } from '../release/index.ts';
import type {
  ClusterDriver,
  ClusterKind,
  ReleaseId,
  RenderedManifest,
  SnapshotTaken,
  VolumeRef,
} from './api.ts';
import { ApplySet } from './applyset.ts';
import { atomicWrite } from './atomic.ts';
import { defaultExec, duBytes, type ExecFn } from './exec.ts';
import { Kubectl } from './kubectl.ts';
import { parseObjects, refOf } from './manifests.ts';
import { writeOciArchive } from './oci-layout.ts';
import { hasFailed, type KubeObject, workloadHealth } from './readiness.ts';

export interface KubeDriverOptions {
  /** the box root: the driver's own records live under it */
  root: string;
  exec?: ExecFn;
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** how to run kubectl, e.g. ['k3s', 'kubectl'] or ['kubectl', '--kubeconfig', FILE] */
  kubectl: string[];
  /** how to run ctr against the node's containerd; null: the cluster gets images from a registry */
  ctr: string[] | null;
  /** box-relative file recording which images were imported (a restart imports nothing again) */
  importsFile: string;
  /** how long a stopped workload's pods may take to go, seconds (default 300) */
  quiesceTimeoutSeconds?: number;
}

interface ImportRecord {
  [manifestDigest: string]: { refs: string[]; importedAt: string };
}

/** Workloads scaled to zero for a copy of their volumes, and how many replicas each had. */
export interface Quiesced {
  workloads: { kind: 'Deployment' | 'StatefulSet'; namespace: string; name: string; replicas: number }[];
  /** milliseconds from the first scale-down until no pod mounted the claims */
  stopMs: number;
}

export abstract class KubeDriver implements ClusterDriver {
  abstract readonly kind: ClusterKind;
  protected readonly root: string;
  protected readonly exec: ExecFn;
  protected readonly kubectl: Kubectl;
  protected readonly applySet: ApplySet;
  protected readonly now: () => number;
  protected readonly sleep: (ms: number) => Promise<void>;
  protected readonly tmpDir: string;
  readonly #fetch: typeof fetch;
  readonly #ctr: string[] | null;
  readonly #imports: string;
  readonly #quiesceTimeout: number;

  constructor(opts: KubeDriverOptions) {
    this.root = opts.root;
    this.exec = opts.exec ?? defaultExec;
    this.kubectl = new Kubectl(opts.kubectl, this.exec);
    this.applySet = new ApplySet(this.kubectl);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
    this.tmpDir = join(opts.root, 'var/lib/drydock/tmp');
    this.#fetch = opts.fetch ?? fetch;
    this.#ctr = opts.ctr;
    this.#imports = join(opts.root, opts.importsFile);
    this.#quiesceTimeout = opts.quiesceTimeoutSeconds ?? 300;
  }

  abstract ping(): Promise<{ ok: boolean; message: string; k3sVersion: string | null }>;
  abstract snapshot(dir: string, volumes: VolumeRef[]): Promise<SnapshotTaken>;
  abstract restore(dir: string, volumes: VolumeRef[]): Promise<void>;
  abstract installK3s(binaryPath: string, version: string): Promise<void>;

  /** Runs a program through the injected exec; a failure is CLUSTER_UNAVAILABLE (TOOL_MISSING if absent). */
  protected async must(cmd: string[], args: string[], what: string, timeoutMs = 120_000): Promise<string> {
    const r = await this.exec(cmd[0]!, [...cmd.slice(1), ...args], { timeoutMs });
    if (r.code !== 0)
      throw new DrydockError(
        r.code === 127 ? 'TOOL_MISSING' : 'CLUSTER_UNAVAILABLE',
        `${what} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] || `exit ${r.code}`}`,
      );
    return r.stdout;
  }

  protected async waitApiReady(timeoutSeconds: number): Promise<void> {
    const until = this.now() + timeoutSeconds * 1000;
    for (;;) {
      const r = await this.kubectl.ready();
      if (r.ok) return;
      if (this.now() > until)
        throw new DrydockError('CLUSTER_UNAVAILABLE', `${r.message} (after ${timeoutSeconds} s)`);
      await this.sleep(1000);
    }
  }

  async importImages(
    images: ImageRef[],
    store: BlobStore,
    onProgress?: (done: number, total: number) => void,
  ) {
    const ctr = this.#ctr;
    if (!ctr) {
      // the cluster pulls from a registry it reaches; nothing to import on this machine
      onProgress?.(images.length, images.length);
      return { imported: 0, skipped: images.length };
    }
    const record = JSON.parse(await readFile(this.#imports, 'utf8').catch(() => '{}')) as ImportRecord;
    const listImages = async () =>
      new Set(
        (await this.must(ctr, ['-n', 'k8s.io', 'images', 'ls', '-q'], 'ctr images ls'))
          .split('\n')
          .map((l) => l.trim()),
      );
    // the record spares the import; containerd's own list (one cheap call) catches images that
    // the kubelet's image garbage collection or an admin removed since, so a rollback never lacks one
    const present = images.length > 0 ? await listImages() : new Set<string>();
    const todo = images.filter(
      (i) => !record[i.manifest.digest]?.refs.includes(i.ref) || !present.has(i.ref),
    );
    const skipped = images.length - todo.length;
    onProgress?.(skipped, images.length);
    if (todo.length === 0) return { imported: 0, skipped };
    await mkdir(this.tmpDir, { recursive: true });
    const archive = join(this.tmpDir, `images-${process.pid}-${this.now()}.tar`);
    try {
      // one archive for all missing images: one import, shared layers stored once
      await writeOciArchive(todo, store, createWriteStream(archive, { mode: 0o600 }));
      await this.must(ctr, ['-n', 'k8s.io', 'images', 'import', archive], 'ctr images import', 600_000);
      const names = await listImages();
      for (const img of todo) {
        if (!names.has(img.ref))
          throw new DrydockError('IMAGE_INVALID', `containerd did not list ${img.ref} after the import`);
        record[img.manifest.digest] ??= { refs: [], importedAt: new Date(this.now()).toISOString() };
        const r = record[img.manifest.digest]!;
        if (!r.refs.includes(img.ref)) r.refs.push(img.ref);
      }
      await atomicWrite(this.#imports, JSON.stringify(record, null, 1), 0o600);
    } finally {
      await rm(archive, { force: true });
    }
    onProgress?.(images.length, images.length);
    return { imported: todo.length, skipped };
  }

  /** Server-side apply of the release's objects; members the release dropped are deleted. */
  async applyManifests(release: ReleaseId, next: RenderedManifest[], _previous: RenderedManifest[] | null) {
    await this.applySet.apply(release, next);
  }

  async workloads(list: Workload[]) {
    const namespaces = [...new Set(list.map((w) => w.namespace ?? 'default'))];
    const items: KubeObject[] = [];
    try {
      for (const ns of namespaces) {
        const r = await this.kubectl.json(`reading namespace ${ns}`, [
          'get',
          'deploy,statefulset,daemonset,job,pods,replicasets',
          '-n',
          ns,
        ]);
        items.push(...(r.items ?? []));
      }
    } catch (err) {
      // an API server that does not answer (restarting) means "not ready yet", not a crash of the
      // health wait; the deadline decides
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
  }

  async probe(p: Probe) {
    try {
      const res = await this.#fetch(p.url, { signal: AbortSignal.timeout((p.timeoutSeconds ?? 5) * 1000) });
      const body = await res.text();
      const expect = p.expectStatus ?? 200;
      if (res.status !== expect) return { ok: false, message: `HTTP ${res.status}, expected ${expect}` };
      if (p.expectBody !== undefined && !body.includes(p.expectBody))
        return { ok: false, message: `HTTP ${res.status}, but the page does not contain "${p.expectBody}"` };
      return { ok: true, message: `HTTP ${res.status}` };
    } catch (err) {
      return { ok: false, message: `${p.url} unreachable (${(err as Error).message})` };
    }
  }

  async runJob(job: RenderedManifest, timeoutSeconds: number) {
    const objects = parseObjects(job);
    const j = objects[0];
    if (!j || objects.length !== 1 || j.kind !== 'Job')
      throw new DrydockError('BUNDLE_RELEASE_INVALID', `hook ${job.name} must hold exactly one Job`);
    const ref = refOf(j);
    const ns = ref.namespace ?? 'default';
    const del = (wait: boolean) =>
      this.kubectl.must(`deleting job ${ref.name}`, [
        'delete',
        'job',
        ref.name,
        '-n',
        ns,
        '--ignore-not-found',
        `--wait=${wait}`,
        ...(wait ? [] : ['--cascade=background']),
      ]);
    await del(true);
    await this.kubectl.must(`creating job ${ref.name}`, ['apply', '-f', '-'], { input: job.content });
    const until = this.now() + timeoutSeconds * 1000;
    const w: Workload = { kind: 'Job', namespace: ns, name: ref.name };
    for (;;) {
      const items =
        (await this.kubectl.json(`reading job ${ref.name}`, ['get', 'job,pods', '-n', ns])).items ?? [];
      const [h] = workloadHealth(items, [w]);
      const done = h!.ready || hasFailed(h!);
      if (done || this.now() > until) {
        await del(false);
        if (h!.ready) return { ok: true, message: `job ${ref.name} ${h!.message}` };
        if (done) return { ok: false, message: `job ${ref.name} ${h!.message}` };
        return {
          ok: false,
          message: `job ${ref.name} did not finish within ${timeoutSeconds} s (${h!.message})`,
        };
      }
      await this.sleep(1000);
    }
  }

  /** The host folder of a claim's volume (hostPath or local, as local-path-provisioner makes). */
  protected async pvcFolder(v: VolumeRef): Promise<string> {
    const pvc = await this.kubectl.json(`reading claim ${v.namespace}/${v.claim}`, [
      'get',
      'pvc',
      v.claim,
      '-n',
      v.namespace,
    ]);
    const pvName = (pvc.spec as { volumeName?: string })?.volumeName;
    if (!pvName)
      throw new DrydockError('NOT_FOUND', `claim ${v.namespace}/${v.claim} is not bound to a volume`);
    const pv = await this.kubectl.json(`reading volume ${pvName}`, ['get', 'pv', pvName]);
    const spec = pv.spec as { hostPath?: { path?: string }; local?: { path?: string } };
    const path = spec.hostPath?.path ?? spec.local?.path;
    if (!path)
      throw new DrydockError('NOT_FOUND', `volume ${pvName} is not a local folder (hostPath or local)`);
    return this.hostPath(path);
  }

  async volumeBytes(volumes: VolumeRef[]): Promise<number> {
    let total = 0;
    for (const v of volumes) {
      const folder = await this.pvcFolder(v).catch(() => null);
      if (folder) total += await duBytes(this.exec, folder);
    }
    return total;
  }

  /** Where a node path is seen from here (the k3s driver's box root may be a folder in tests). */
  protected hostPath(path: string): string {
    return path;
  }

  /**
   * Stops every Deployment and StatefulSet whose pods mount one of the claims (scaled to zero) and
   * waits until no pod mounts them, so a copy of their folders is consistent. `resume` scales them
   * back. A pod that mounts a claim and belongs to neither (a bare pod, a Job) fails the wait.
   */
  async quiesce(volumes: VolumeRef[]): Promise<Quiesced> {
    const t0 = this.now();
    const out: Quiesced = { workloads: [], stopMs: 0 };
    if (volumes.length === 0) return out;
    const claims = new Set(volumes.map((v) => `${v.namespace}/${v.claim}`));
    for (const ns of new Set(volumes.map((v) => v.namespace))) {
      const list =
        (await this.kubectl.json(`reading workloads of ${ns}`, ['get', 'deploy,statefulset', '-n', ns]))
          .items ?? [];
      for (const w of list) {
        const name = w.metadata?.name ?? '';
        const spec = w.spec as {
          replicas?: number;
          template?: { spec?: { volumes?: { persistentVolumeClaim?: { claimName?: string } }[] } };
          volumeClaimTemplates?: { metadata?: { name?: string } }[];
        };
        const mounted = (spec.template?.spec?.volumes ?? []).map((x) => x.persistentVolumeClaim?.claimName);
        // a StatefulSet's own claims are named <template>-<set>-<ordinal>
        const own = (spec.volumeClaimTemplates ?? []).map((t) => `${t.metadata?.name}-${name}-`);
        const uses = [...claims].some((c) => {
          const [cns, claim] = c.split('/') as [string, string];
          return cns === ns && (mounted.includes(claim) || own.some((p) => claim.startsWith(p)));
        });
        if (!uses) continue;
        const kind = w.kind === 'StatefulSet' ? 'StatefulSet' : 'Deployment';
        out.workloads.push({ kind, namespace: ns, name, replicas: spec.replicas ?? 1 });
      }
    }
    // record first: a crash after scaling down still knows the replica counts (the caller keeps it)
    for (const w of out.workloads)
      await this.kubectl.must(`stopping ${w.kind} ${w.namespace}/${w.name}`, [
        'scale',
        `${w.kind.toLowerCase()}/${w.name}`,
        '-n',
        w.namespace,
        '--replicas=0',
      ]);
    const until = this.now() + this.#quiesceTimeout * 1000;
    for (;;) {
      const pods = (await this.kubectl.json('reading pods', ['get', 'pods', '--all-namespaces'])).items ?? [];
      const left = pods.filter((p) =>
        ((p.spec as { volumes?: { persistentVolumeClaim?: { claimName?: string } }[] })?.volumes ?? []).some(
          (x) => claims.has(`${p.metadata?.namespace}/${x.persistentVolumeClaim?.claimName}`),
        ),
      );
      if (left.length === 0) break;
      if (this.now() > until) {
        await this.resume(out);
        throw new DrydockError(
          'CLUSTER_UNAVAILABLE',
          `pods still mount the volumes after ${this.#quiesceTimeout} s: ${left.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(', ')}`,
        );
      }
      await this.sleep(250);
    }
    out.stopMs = this.now() - t0;
    return out;
  }

  /** Scales the workloads `quiesce` stopped back to their replica counts. */
  async resume(q: Quiesced): Promise<void> {
    for (const w of q.workloads)
      await this.kubectl.must(`starting ${w.kind} ${w.namespace}/${w.name}`, [
        'scale',
        `${w.kind.toLowerCase()}/${w.name}`,
        '-n',
        w.namespace,
        `--replicas=${w.replicas}`,
      ]);
  }

  /** Copies each claim's folder into dir/volumes with its workloads stopped; records where it came from. */
  protected async copyVolumes(dir: string, volumes: VolumeRef[]): Promise<SnapshotTaken> {
    await mkdir(join(dir, 'volumes'), { recursive: true });
    const folders: [VolumeRef, string][] = [];
    for (const v of volumes) folders.push([v, await this.pvcFolder(v)]);
    const t0 = this.now();
    const q = await this.quiesce(volumes);
    try {
      for (const [v, from] of folders) {
        const name = `${v.namespace}_${v.claim}`;
        await this.must(
          ['cp'],
          ['-a', from, join(dir, 'volumes', name)],
          `copying volume ${v.namespace}/${v.claim}`,
          3_600_000,
        );
        await atomicWrite(join(dir, 'volumes', `${name}.path`), from, 0o600);
      }
    } finally {
      await this.resume(q);
    }
    const taken: SnapshotTaken = {
      stopped: q.workloads.map((w) => `${w.kind} ${w.namespace}/${w.name}`),
      downMs: q.workloads.length ? this.now() - t0 : 0,
    };
    await atomicWrite(join(dir, 'quiesce.json'), JSON.stringify({ ...q, downMs: taken.downMs }), 0o600);
    return taken;
  }

  /** The folders a snapshot holds and where they go back to. */
  protected async snapshotFolders(dir: string, volumes: VolumeRef[]): Promise<[string, string][]> {
    const out: [string, string][] = [];
    for (const v of volumes) {
      const name = `${v.namespace}_${v.claim}`;
      const to = (await readFile(join(dir, 'volumes', `${name}.path`), 'utf8').catch(() => '')).trim();
      if (to) out.push([join(dir, 'volumes', name), to]);
    }
    return out;
  }

  protected async putFoldersBack(folders: [string, string][]): Promise<void> {
    for (const [from, to] of folders) {
      await rm(to, { recursive: true, force: true });
      await this.must(['cp'], ['-a', from, to], `restoring volume ${to}`, 3_600_000);
    }
  }
}
