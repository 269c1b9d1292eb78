// The stand-in cluster: a SIMULATED single-node k3s for tests and the local demo, kept under
// <root>/var/lib/drydock/standin/. What is real: the manifests folder it writes (same code as the
// k3s driver), the images (unpacked by umoci from the blob store), the containers (their real
// commands run from those rootfs, each in its own network namespace), the readiness probes and the
// HTTP probes (busybox wget inside the pod's network namespace), and the readiness rules (readiness.ts
// on documents shaped like the API server's). What is simulated: the API server and controllers
// (controller.ts), Services (a NodePort probe is routed to a ready pod of the Service), and
// isolation (namespaces + chroot, no cgroups or seccomp).

import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { DrydockError } from '../../../core/index.ts';
import type { BlobStore } from '../../blobstore/index.ts';
import type { ImageRef, Probe, Workload } from '../../release/index.ts';
import type { ClusterDriver, ReleaseId, RenderedManifest } from '../api.ts';
import { defaultExec, duBytes, type ExecFn } from '../exec.ts';
import { keyOf, parseObjects, refOf, writeManifestFiles } from '../manifests.ts';
import { readImageConfig, tagOf, writeOciLayoutDir } from '../oci-layout.ts';
import { workloadHealth } from '../readiness.ts';
import {
  type Ctx,
  httpInNetns,
  newUid,
  podReady,
  reconcile,
  statusDocuments,
  stopAll,
  stopPodsMounting,
  volumeDir,
} from './controller.ts';
import { inNetns, isRoot } from './runtime.ts';
import { endpointFor, serviceForNodePort } from './service.ts';
import {
  loadState,
  type StandinState,
  type StoredObject,
  saveState,
  standinDir,
  withStateLock,
} from './state.ts';

export { OBSERVE_MS } from './controller.ts';
export { STANDIN_DIR } from './state.ts';

export interface StandinOptions {
  root: string;
  /**
   * Containers of a box that no driver call touched for this long are stopped (and started again
   * by the next call): a test run killed before its cleanup leaves nothing running for good.
   * Default 1800 s; 0 = never.
   */
  leaseSeconds?: number;
  exec?: ExecFn;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface StandinDriver extends ClusterDriver {
  readonly kind: 'standin';
  /** Stops every container of this box (the simulated node powers off); the desired state stays. */
  shutdown(): Promise<void>;
  /**
   * Makes a NodePort reachable from the host (for the local demo and a browser): a TCP listener on
   * host:hostPort (0 = any free port) that pipes each connection into a ready pod of the Service.
   * Lives as long as this process or until close().
   */
  publish(
    nodePort: number,
    hostPort?: number,
    host?: string,
  ): Promise<{ port: number; close(): Promise<void> }>;
  /** The cluster as `kubectl get deploy,sts,ds,job,rs,pods -o json` would list it (for debugging and tests). */
  kubectlGet(): Promise<{ apiVersion: 'v1'; kind: 'List'; items: unknown[] }>;
}

const ok = (message: string) => ({ ok: true, message });
const fail = (message: string) => ({ ok: false, message });

export function createStandinDriver(opts: StandinOptions): StandinDriver {
  const root = opts.root;
  const exec = opts.exec ?? defaultExec;
  const now = opts.now ?? Date.now;
  const doFetch = opts.fetch ?? fetch;
  const dir = standinDir(root);
  const leaseSeconds = opts.leaseSeconds;

  /** Loads the state, runs fn (which may change it), reconciles, saves. */
  const withCluster = <T>(fn: (ctx: Ctx) => Promise<T>, opt: { reconcile?: boolean } = {}) =>
    withStateLock(root, async () => {
      const ctx: Ctx = { root, state: await loadState(root), exec, now, leaseSeconds };
      try {
        const r = await fn(ctx);
        if (opt.reconcile !== false) await reconcile(ctx);
        return r;
      } finally {
        await saveState(root, ctx.state);
      }
    });

  /** Reconciles, then lets fn read the cluster as it is now. */
  const observe = <T>(fn: (ctx: Ctx) => Promise<T> | T) =>
    withStateLock(root, async () => {
      const ctx: Ctx = { root, state: await loadState(root), exec, now, leaseSeconds };
      try {
        await reconcile(ctx);
        return await fn(ctx);
      } finally {
        await saveState(root, ctx.state);
      }
    });

  function upsert(s: StandinState, o: ReturnType<typeof parseObjects>[number]): StoredObject {
    const ref = refOf(o);
    const key = keyOf(ref);
    const prev = s.objects[key];
    const { status: _ignored, ...spec } = o as Record<string, unknown>;
    const next = spec as typeof o;
    if (prev && JSON.stringify(prev.object) === JSON.stringify(next)) return prev;
    const stored: StoredObject = prev
      ? { ...prev, object: next, generation: prev.generation + 1 }
      : { ref, object: next, uid: newUid(s), generation: 1, createdAt: new Date(now()).toISOString() };
    s.objects[key] = stored;
    return stored;
  }

  async function remove(ctx: Ctx, key: string): Promise<void> {
    const o = ctx.state.objects[key];
    if (!o) return;
    if (o.ref.kind === 'PersistentVolumeClaim') {
      // local-path's reclaim policy is Delete: the volume folder goes with its claim
      const vd = volumeDir(root, ctx.state, o.ref.namespace ?? 'default', o.ref.name);
      if (vd) await rm(vd, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
    delete ctx.state.objects[key];
    if (o.ref.kind === 'Deployment') delete ctx.state.replicaSets[`${o.ref.namespace}/${o.ref.name}`];
    if (o.ref.kind === 'Namespace')
      for (const [k, x] of Object.entries(ctx.state.objects))
        if (x.ref.namespace === o.ref.name) await remove(ctx, k);
  }

  async function ensureVolumes(ctx: Ctx): Promise<void> {
    for (const o of Object.values(ctx.state.objects))
      if (o.ref.kind === 'PersistentVolumeClaim') {
        const vd = volumeDir(root, ctx.state, o.ref.namespace ?? 'default', o.ref.name);
        if (vd) await mkdir(vd, { recursive: true, mode: 0o777 });
      }
  }

  const driver: StandinDriver = {
    kind: 'standin',

    async ping() {
      const s = await withStateLock(root, () => loadState(root));
      return {
        ok: true,
        message: `stand-in cluster (simulated single node under ${dir})`,
        k3sVersion: s.k3sVersion,
      };
    },

    async importImages(
      images: ImageRef[],
      store: BlobStore,
      onProgress?: (done: number, total: number) => void,
    ) {
      let imported = 0;
      let skipped = 0;
      let done = 0;
      onProgress?.(0, images.length);
      await removeStaleUnpacks(join(dir, 'images'));
      for (const img of images) {
        const known = await withStateLock(root, async () => (await loadState(root)).images[img.ref]);
        const hex = img.manifest.digest.slice(7);
        const rootfsRel = join('images', hex, 'rootfs');
        if (known?.manifest === img.manifest.digest && (await stat(join(dir, rootfsRel)).catch(() => null))) {
          skipped++;
        } else {
          const config = await readImageConfig(img, store);
          if (!(await stat(join(dir, rootfsRel)).catch(() => null))) {
            // umoci (Debian) unpacks the layers, whiteouts included, and never writes outside the rootfs
            const work = join(dir, 'images', `${hex}.tmp-${process.pid}`);
            await rm(work, { recursive: true, force: true });
            await writeOciLayoutDir([img], store, join(work, 'layout'));
            const r = await exec(
              'umoci',
              [
                'raw',
                'unpack',
                ...(isRoot() ? [] : ['--rootless']),
                '--image',
                `${join(work, 'layout')}:${tagOf(img.ref)}`,
                join(work, 'rootfs'),
              ],
              {
                timeoutMs: 300_000,
              },
            );
            if (r.code !== 0) {
              await rm(work, { recursive: true, force: true });
              throw new DrydockError(
                'IMAGE_INVALID',
                `image ${img.ref} could not be unpacked: ${r.stderr.trim().split('\n').pop()}`,
              );
            }
            await rm(join(work, 'layout'), { recursive: true, force: true });
            await mkdir(join(dir, 'images', hex), { recursive: true });
            await rename(join(work, 'rootfs'), join(dir, rootfsRel)).catch((e: NodeJS.ErrnoException) => {
              // another process unpacked the same image meanwhile: theirs is as good as ours
              if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
            });
            await rm(work, { recursive: true, force: true });
          }
          await withStateLock(root, async () => {
            const s = await loadState(root);
            s.images[img.ref] = {
              ref: img.ref,
              manifest: img.manifest.digest,
              rootfs: rootfsRel,
              config,
              importedAt: new Date(now()).toISOString(),
            };
            await saveState(root, s);
          });
          imported++;
        }
        onProgress?.(++done, images.length);
      }
      return { imported, skipped };
    },

    async applyManifests(release: ReleaseId, next: RenderedManifest[], _previous: RenderedManifest[] | null) {
      const objects = next.flatMap(parseObjects); // throws on a broken manifest before anything changes
      await writeManifestFiles(root, next);
      await withCluster(async (ctx) => {
        // as the real drivers' ApplySet does: apply every object, then delete every member the
        // release no longer has, whichever release (or crash) left it; namespaces last
        for (const o of objects) upsert(ctx.state, o);
        const keep = new Set(objects.map((o) => keyOf(refOf(o))));
        const members = Object.entries(ctx.state.objects).filter(([k]) => !keep.has(k));
        members.sort(
          ([, a], [, b]) => Number(a.ref.kind === 'Namespace') - Number(b.ref.kind === 'Namespace'),
        );
        for (const [k] of members) await remove(ctx, k);
        await ensureVolumes(ctx);
        await writeFile(join(dir, 'release.json'), JSON.stringify(release));
      });
    },

    async workloads(list: Workload[]) {
      return observe((ctx) => workloadHealth(statusDocuments(ctx.state), list));
    },

    async probe(p: Probe) {
      const url = new URL(p.url);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      const local = ['127.0.0.1', 'localhost', '0.0.0.0', '[::1]'].includes(url.hostname);
      const expectStatus = p.expectStatus ?? 200;
      const judge = (status: number, body: string, via: string) => {
        if (status !== expectStatus) return fail(`HTTP ${status} from ${via}, expected ${expectStatus}`);
        if (p.expectBody !== undefined && !body.includes(p.expectBody))
          return fail(`HTTP ${status} from ${via}, but the page does not contain "${p.expectBody}"`);
        return ok(`HTTP ${status} from ${via}`);
      };
      const known = local
        ? await withStateLock(root, async () => serviceForNodePort(await loadState(root), port))
        : undefined;
      if (!known) {
        // not a NodePort of this cluster: something on the host, fetched for real
        try {
          const res = await doFetch(p.url, { signal: AbortSignal.timeout((p.timeoutSeconds ?? 5) * 1000) });
          return judge(res.status, await res.text(), p.url);
        } catch (err) {
          return fail(`${p.url} unreachable (${(err as Error).message})`);
        }
      }
      return observe(async (ctx) => {
        const ep = endpointFor(ctx.state, port, podReady);
        if ('error' in ep) return fail(`${ep.error}`);
        const r = await httpInNetns(
          ctx,
          ep.pid,
          ep.port,
          `${url.pathname}${url.search}`,
          p.timeoutSeconds ?? 5,
        );
        const via = `${ep.service} (pod ${ep.pod})`;
        if (r.status === 0) return fail(`${via}: ${r.error}`);
        return judge(r.status, r.body, via);
      });
    },

    async publish(nodePort: number, hostPort = 0, host = '127.0.0.1') {
      const open = new Set<import('node:net').Socket>();
      const server = createServer((socket) => {
        open.add(socket);
        socket.on('close', () => open.delete(socket));
        socket.on('error', () => socket.destroy());
        observe((ctx) => endpointFor(ctx.state, nodePort, podReady))
          .then((ep) => {
            if ('error' in ep || socket.destroyed) return socket.destroy();
            // a byte pipe into the pod's network namespace, one per connection
            const [cmd, ...args] = inNetns(ep.pid, ['/bin/busybox', 'nc', '127.0.0.1', String(ep.port)]);
            const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'ignore'] });
            socket.pipe(child.stdin);
            child.stdout.pipe(socket);
            child.stdin.on('error', () => {});
            child.on('exit', () => socket.end());
            child.on('error', () => socket.destroy());
            socket.on('close', () => child.kill('SIGKILL'));
          })
          .catch(() => socket.destroy());
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(hostPort, host, () => resolve());
      });
      const address = server.address() as AddressInfo;
      return {
        port: address.port,
        close: () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            for (const sock of open) sock.destroy();
          }),
      };
    },

    async runJob(job: RenderedManifest, timeoutSeconds: number) {
      const objects = parseObjects(job);
      const j = objects.find((o) => o.kind === 'Job');
      if (!j || objects.length !== 1)
        throw new DrydockError('BUNDLE_RELEASE_INVALID', `hook ${job.name} must hold exactly one Job`);
      const key = keyOf(refOf(j));
      await withCluster(async (ctx) => {
        await remove(ctx, key); // a hook of the same name from an earlier run
        await reconcile(ctx);
        upsert(ctx.state, j);
      });
      const deadline = now() + timeoutSeconds * 1000;
      for (;;) {
        const st = await withCluster(async (ctx) => ctx.state.objects[key]?.job ?? null);
        if (st?.done === 'Complete') {
          await withCluster(async (ctx) => remove(ctx, key));
          return ok(`job ${j.metadata.name} complete`);
        }
        if (st?.done === 'Failed') {
          await withCluster(async (ctx) => remove(ctx, key));
          return fail(
            `job ${j.metadata.name} failed: ${st.reason ?? 'Failed'} (${st.message ?? 'no detail'})`,
          );
        }
        if (now() > deadline) {
          await withCluster(async (ctx) => remove(ctx, key));
          return fail(`job ${j.metadata.name} did not finish within ${timeoutSeconds} s`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },

    async volumeBytes(volumes: { namespace: string; claim: string }[]) {
      const folders = await withCluster(async (ctx) =>
        volumes.map((v) => volumeDir(root, ctx.state, v.namespace, v.claim)).filter((d): d is string => !!d),
      );
      let total = 0;
      for (const d of folders) total += await duBytes(exec, d);
      return total;
    },

    async snapshot(to: string, volumes: { namespace: string; claim: string }[]) {
      // from the pods stopped until the reconcile that ends withCluster has started them again
      const t0 = now();
      let stopped: string[] = [];
      await withCluster(async (ctx) => {
        await mkdir(join(to, 'volumes'), { recursive: true });
        const { objects, replicaSets, serial, k3sVersion } = ctx.state;
        await writeFile(
          join(to, 'standin-datastore.json'),
          JSON.stringify({ objects, replicaSets, serial, k3sVersion }),
        );
        const folders = volumes.map((v) => {
          const vd = volumeDir(root, ctx.state, v.namespace, v.claim);
          if (!vd)
            throw new DrydockError('NOT_FOUND', `volume claim ${v.namespace}/${v.claim} does not exist`);
          return [v, vd] as const;
        });
        // as the real drivers do: the pods that write the volumes are stopped while they are copied
        stopped = await stopPodsMounting(ctx, new Set(volumes.map((v) => `${v.namespace}/${v.claim}`)));
        for (const [v, vd] of folders)
          await cp(vd, join(to, 'volumes', `${v.namespace}_${v.claim}`), {
            recursive: true,
            preserveTimestamps: true,
          });
      });
      const taken = { stopped, downMs: stopped.length ? now() - t0 : 0 };
      await writeFile(join(to, 'quiesce.json'), JSON.stringify(taken));
      return taken;
    },

    async restore(from: string, volumes: { namespace: string; claim: string }[]) {
      const text = await readFile(join(from, 'standin-datastore.json'), 'utf8').catch(() => {
        throw new DrydockError('NOT_FOUND', `no stand-in snapshot in ${from}`);
      });
      const snap = JSON.parse(text) as Pick<
        StandinState,
        'objects' | 'replicaSets' | 'serial' | 'k3sVersion'
      >;
      await withCluster(async (ctx) => {
        // like restoring k3s's datastore: the API objects go back, containers start afresh
        await stopAll(ctx);
        ctx.state.objects = snap.objects;
        ctx.state.replicaSets = snap.replicaSets;
        ctx.state.serial = Math.max(ctx.state.serial, snap.serial);
        ctx.state.k3sVersion = snap.k3sVersion;
        for (const v of volumes) {
          const vd = volumeDir(root, ctx.state, v.namespace, v.claim);
          const saved = join(from, 'volumes', `${v.namespace}_${v.claim}`);
          if (!vd || !(await stat(saved).catch(() => null))) continue;
          await rm(vd, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
          await cp(saved, vd, { recursive: true, preserveTimestamps: true });
        }
        await ensureVolumes(ctx);
      });
    },

    async installK3s(binaryPath: string, version: string) {
      if (!(await stat(binaryPath).catch(() => null)))
        throw new DrydockError('BLOB_MISSING', `k3s binary ${binaryPath} not found`);
      await withCluster(
        async (ctx) => {
          ctx.state.k3sVersion = version;
        },
        { reconcile: false },
      );
    },

    async shutdown() {
      await withCluster(async (ctx) => stopAll(ctx), { reconcile: false });
    },

    async kubectlGet() {
      const items = await observe((ctx) => statusDocuments(ctx.state));
      return { apiVersion: 'v1' as const, kind: 'List' as const, items };
    },
  };
  return driver;
}

/** Unpack folders left by a process that died mid-import (their pid is in the name). */
async function removeStaleUnpacks(imagesDir: string): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  for (const name of await readdir(imagesDir).catch(() => [] as string[])) {
    const m = /\.tmp-(\d+)$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid === process.pid;
    if (!alive)
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    if (!alive) await rm(join(imagesDir, name), { recursive: true, force: true });
  }
}

/** Stops every stand-in container of a box root (test cleanup; safe when there is none). */
export async function stopStandin(root: string): Promise<void> {
  if (!(await stat(standinDir(root)).catch(() => null))) return;
  await createStandinDriver({ root }).shutdown();
}
