// The stand-in's controllers, run on every driver call (there is no daemon): what k3s's deployment,
// ReplicaSet, StatefulSet, DaemonSet and Job controllers and its kubelet would do for a single node.
// - Deployment: a new pod template makes a new ReplicaSet (revision n+1); its pods start; the old
//   ReplicaSet keeps serving until the new pods are ready (maxUnavailable 0), or stops at once with
//   strategy Recreate. Going back to an earlier template reuses that ReplicaSet, as Kubernetes does.
// - kubelet: containers really run (runtime.ts); an exited container of a restartPolicy Always pod
//   is CrashLoopBackOff and restarts after a back-off (1 s doubling to 10 s here; k3s: 10 s to 5 min).
//   A pod is ready when its containers have run for the observation window and their readiness
//   probe (httpGet, run inside the pod's network namespace) answers.
// Status documents are produced in the API server's shape and judged by readiness.ts.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { KubeObject } from '../readiness.ts';
import {
  type ContainerState,
  inNetns,
  inspectContainer,
  type Mount,
  startContainer,
  stopContainer,
} from './runtime.ts';
import {
  type ContainerRecord,
  type PodRecord,
  type ReplicaSetRecord,
  STORAGE_DIR,
  type StandinState,
  type StoredObject,
  standinDir,
} from './state.ts';

/** a container that is still up after this long counts as started (an exit later is a crash too) */
export const OBSERVE_MS = 300;
const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 10_000;

export type Exec = (
  cmd: string,
  args: string[],
  opts?: { timeoutMs?: number },
) => Promise<{ code: number; stdout: string; stderr: string }>;

/** containers of a box no driver call has touched for this long are stopped (restarted on the next call) */
export const DEFAULT_LEASE_SECONDS = 1800;

export interface Ctx {
  leaseSeconds?: number;
  root: string;
  state: StandinState;
  exec: Exec;
  now: () => number;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);

export function newUid(s: StandinState): string {
  s.serial += 1;
  const h = createHash('sha256').update(`standin-${s.serial}-${process.pid}-${Date.now()}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const hashOf = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 10);
const podKey = (ns: string, name: string) => `${ns}/${name}`;

function workloadObjects(s: StandinState): StoredObject[] {
  return Object.values(s.objects).filter((o) =>
    ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.ref.kind),
  );
}

function template(o: StoredObject): Obj {
  return obj(obj(o.object.spec).template);
}

function replicasOf(o: StoredObject): number {
  const r = obj(o.object.spec).replicas;
  return typeof r === 'number' ? r : 1;
}

/** Folder of a PersistentVolumeClaim, named as k3s's local-path provisioner names it. */
export function volumeDir(root: string, s: StandinState, namespace: string, claim: string): string | null {
  const pvc = Object.values(s.objects).find(
    (o) => o.ref.kind === 'PersistentVolumeClaim' && o.ref.namespace === namespace && o.ref.name === claim,
  );
  if (!pvc) return null;
  return join(root, STORAGE_DIR, `pvc-${pvc.uid}_${namespace}_${claim}`);
}

// ---- desired pods -------------------------------------------------------------------------------

interface DesiredPod {
  namespace: string;
  name: string;
  owner: { kind: string; name: string; uid: string };
  template: Obj;
}

function deploymentPods(ctx: Ctx, d: StoredObject, out: DesiredPod[]) {
  const s = ctx.state;
  const key = `${d.ref.namespace}/${d.ref.name}`;
  s.replicaSets[key] ??= [];
  const sets = s.replicaSets[key];
  const tpl = template(d);
  const hash = hashOf(tpl);
  let newest = sets.find((r) => r.hash === hash);
  const top = Math.max(0, ...sets.map((r) => r.revision));
  if (!newest) {
    newest = {
      name: `${d.ref.name}-${hash}`,
      uid: newUid(s),
      hash,
      revision: top + 1,
      template: tpl,
      replicas: 0,
    };
    sets.push(newest);
  } else if (newest.revision !== top) newest.revision = top + 1; // rollback to an earlier template
  const want = replicasOf(d);
  newest.replicas = want;
  const recreate = str(obj(obj(d.object.spec).strategy).type) === 'Recreate';
  const newReady = podsOf(s, newest.uid).filter((p) => podReady(p)).length;
  for (const r of sets) {
    if (r === newest) continue;
    // RollingUpdate with maxUnavailable 0: the old set serves until the new pods are ready
    r.replicas = recreate || newReady >= want ? 0 : r.replicas;
  }
  const history = Number(obj(d.object.spec).revisionHistoryLimit ?? 10);
  const old = sets.filter((r) => r !== newest && r.replicas === 0).sort((a, b) => b.revision - a.revision);
  for (const r of old.slice(history)) sets.splice(sets.indexOf(r), 1);
  for (const r of sets)
    for (let i = 0; i < r.replicas; i++)
      out.push({
        namespace: d.ref.namespace ?? 'default',
        name: `${r.name}-${i}`,
        owner: { kind: 'ReplicaSet', name: r.name, uid: r.uid },
        template: r.template,
      });
}

function otherPods(d: StoredObject, out: DesiredPod[]) {
  const ns = d.ref.namespace ?? 'default';
  const tpl = template(d);
  const owner = { kind: d.ref.kind, name: d.ref.name, uid: d.uid };
  if (d.ref.kind === 'StatefulSet') {
    for (let i = 0; i < replicasOf(d); i++)
      out.push({ namespace: ns, name: `${d.ref.name}-${i}`, owner, template: tpl });
  } else if (d.ref.kind === 'DaemonSet') {
    out.push({ namespace: ns, name: `${d.ref.name}-${hashOf(tpl).slice(0, 5)}`, owner, template: tpl });
  } else if (d.ref.kind === 'Job') {
    const j = d.job ?? { succeeded: 0, failed: 0, done: null };
    d.job = j;
    if (!j.done) out.push({ namespace: ns, name: `${d.ref.name}-${j.failed}`, owner, template: tpl });
  }
}

export function podsOf(s: StandinState, ownerUid: string): PodRecord[] {
  return Object.values(s.pods).filter((p) => p.owner.uid === ownerUid);
}

export function podReady(p: PodRecord): boolean {
  return p.phase === 'Running' && p.containers.every((c) => c.ready);
}

// ---- kubelet ------------------------------------------------------------------------------------

function newPod(ctx: Ctx, d: DesiredPod): PodRecord {
  const spec = obj(d.template.spec);
  const policy = str(
    spec.restartPolicy,
    d.owner.kind === 'Job' ? 'Never' : 'Always',
  ) as PodRecord['restartPolicy'];
  return {
    namespace: d.namespace,
    name: d.name,
    uid: newUid(ctx.state),
    owner: d.owner,
    labels: obj(obj(d.template.metadata).labels) as Record<string, string>,
    spec,
    restartPolicy: policy,
    createdAt: new Date(ctx.now()).toISOString(),
    phase: 'Pending',
    containers: arr(spec.containers).map(
      (c): ContainerRecord => ({
        name: str(c.name, 'main'),
        image: str(c.image),
        restartCount: 0,
        run: null,
        exited: null,
        last: null,
        waiting: 'ContainerCreating',
        ready: false,
        probeMessage: null,
      }),
    ),
  };
}

const podDir = (root: string, p: PodRecord) =>
  join(standinDir(root), 'pods', `${p.namespace}_${p.name}_${p.uid.slice(0, 8)}`);

function findObject(s: StandinState, kind: string, ns: string, name: string): StoredObject | undefined {
  return Object.values(s.objects).find(
    (o) => o.ref.kind === kind && o.ref.namespace === ns && o.ref.name === name,
  );
}

async function podMounts(ctx: Ctx, p: PodRecord, c: Obj): Promise<Mount[] | string> {
  const volumes = new Map(arr(p.spec.volumes).map((v) => [str(v.name), v]));
  const mounts: Mount[] = [];
  for (const m of arr(c.volumeMounts)) {
    const v = volumes.get(str(m.name));
    if (!v) return `volume ${str(m.name)} not defined`;
    let host: string;
    if (v.persistentVolumeClaim) {
      const claim = str(obj(v.persistentVolumeClaim).claimName);
      const dir = volumeDir(ctx.root, ctx.state, p.namespace, claim);
      if (!dir) return `persistentvolumeclaim "${claim}" not found`;
      host = dir;
    } else if (v.emptyDir) {
      host = join(podDir(ctx.root, p), 'volumes', str(v.name));
    } else if (v.configMap || v.secret) {
      const isCm = Boolean(v.configMap);
      const src = obj(v.configMap ?? v.secret);
      const name = str(isCm ? src.name : src.secretName);
      const o = findObject(ctx.state, isCm ? 'ConfigMap' : 'Secret', p.namespace, name);
      if (!o) return `${isCm ? 'configmap' : 'secret'} "${name}" not found`;
      host = join(podDir(ctx.root, p), 'volumes', str(v.name));
      await mkdir(host, { recursive: true });
      for (const [k, val] of Object.entries(obj(o.object.data)))
        await writeFile(join(host, k), isCm ? str(val) : Buffer.from(str(val), 'base64'));
      for (const [k, val] of Object.entries(obj(o.object.stringData)))
        await writeFile(join(host, k), str(val));
    } else if (v.hostPath) {
      // a simulation: host paths live under the box root, never on the real host
      host = join(ctx.root, str(obj(v.hostPath).path).replace(/^\/+/, ''));
    } else return `volume ${str(m.name)}: type not supported by the stand-in`;
    await mkdir(host, { recursive: true });
    mounts.push({ hostPath: host, containerPath: str(m.mountPath) });
  }
  return mounts;
}

function containerEnv(ctx: Ctx, p: PodRecord, c: Obj, imageEnv: string[]): string[] | string {
  const env = new Map<string, string>();
  for (const e of imageEnv) {
    const i = e.indexOf('=');
    if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const e of arr(c.env)) {
    if (typeof e.value === 'string') env.set(str(e.name), e.value);
    else if (e.valueFrom) {
      const from = obj(e.valueFrom);
      const ref = obj(from.configMapKeyRef ?? from.secretKeyRef);
      const kind = from.configMapKeyRef ? 'ConfigMap' : 'Secret';
      const o = findObject(ctx.state, kind, p.namespace, str(ref.name));
      const raw = o
        ? (obj(o.object.data)[str(ref.key)] ?? obj(o.object.stringData)[str(ref.key)])
        : undefined;
      if (raw === undefined) {
        if (ref.optional) continue;
        return `${kind.toLowerCase()} "${str(ref.name)}" key "${str(ref.key)}" not found`;
      }
      env.set(
        str(e.name),
        kind === 'Secret' && obj(o!.object.data)[str(ref.key)] !== undefined
          ? Buffer.from(str(raw), 'base64').toString()
          : str(raw),
      );
    }
  }
  if (!env.has('PATH')) env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  env.set('HOSTNAME', p.name);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

async function startOne(ctx: Ctx, p: PodRecord, c: ContainerRecord): Promise<void> {
  const spec = arr(p.spec.containers).find((x) => str(x.name, 'main') === c.name) ?? {};
  const img = ctx.state.images[c.image];
  if (!img) {
    c.waiting = str(spec.imagePullPolicy) === 'Never' ? 'ErrImageNeverPull' : 'ErrImagePull';
    c.probeMessage = `image ${c.image} not imported`;
    return;
  }
  const mounts = await podMounts(ctx, p, spec);
  const env = containerEnv(ctx, p, spec, img.config.Env ?? []);
  if (typeof mounts === 'string' || typeof env === 'string') {
    c.waiting = 'CreateContainerConfigError';
    c.probeMessage = typeof mounts === 'string' ? mounts : (env as string);
    return;
  }
  // Kubernetes: command replaces the image Entrypoint, args replace its Cmd
  const command = Array.isArray(spec.command) ? (spec.command as string[]) : (img.config.Entrypoint ?? []);
  const args = Array.isArray(spec.args)
    ? (spec.args as string[])
    : Array.isArray(spec.command)
      ? []
      : (img.config.Cmd ?? []);
  const argv = [...command, ...args];
  if (argv.length === 0) {
    c.waiting = 'CreateContainerError';
    c.probeMessage = 'no command specified';
    return;
  }
  const dir = join(podDir(ctx.root, p), c.name);
  c.run = await startContainer({
    dir,
    rootfs: join(standinDir(ctx.root), img.rootfs),
    argv,
    env,
    workingDir: str(spec.workingDir) || img.config.WorkingDir || '/',
    mounts,
    marker: standinDir(ctx.root),
    lease: join(standinDir(ctx.root), 'lease'),
    leaseSeconds: ctx.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
  });
  c.exited = null;
  c.waiting = null;
  c.ready = false;
}

/** Runs a readiness probe of a container inside its pod's network namespace. */
async function readinessProbe(
  ctx: Ctx,
  c: ContainerRecord,
  spec: Obj,
): Promise<{ ok: boolean; message: string }> {
  const probe = obj(spec.readinessProbe);
  const http = obj(probe.httpGet);
  if (!probe.httpGet && !probe.tcpSocket) return { ok: true, message: 'no readiness probe' };
  const port = resolvePort(spec, (http.port ?? obj(probe.tcpSocket).port) as string | number);
  if (port === null) return { ok: false, message: 'probe port not found' };
  if (!c.run) return { ok: false, message: 'not running' };
  if (probe.tcpSocket) {
    const r = await ctx.exec(
      // a TCP connect and nothing more, as the kubelet's tcpSocket probe; busybox's nc has no -z
      ...splitArgv(inNetns(c.run.pid, ['/bin/bash', '-c', 'exec 3<>"/dev/tcp/127.0.0.1/$0"', String(port)])),
      { timeoutMs: 3000 },
    );
    return { ok: r.code === 0, message: r.code === 0 ? 'tcp open' : `tcp ${port} refused` };
  }
  const r = await httpInNetns(ctx, c.run.pid, port, str(http.path, '/'), Number(probe.timeoutSeconds ?? 1));
  return { ok: r.status >= 200 && r.status < 400, message: r.status ? `HTTP ${r.status}` : r.error };
}

const splitArgv = (a: string[]): [string, string[]] => [a[0]!, a.slice(1)];

export function resolvePort(spec: Obj, port: string | number | undefined): number | null {
  if (typeof port === 'number') return port;
  if (typeof port === 'string' && /^\d+$/.test(port)) return Number(port);
  const p = arr(spec.ports).find((x) => x.name === port);
  return p && typeof p.containerPort === 'number' ? p.containerPort : null;
}

/** An HTTP GET from inside a pod's network namespace with busybox wget: status and body. */
export async function httpInNetns(
  ctx: Ctx,
  pid: number,
  port: number,
  path: string,
  timeoutSeconds: number,
): Promise<{ status: number; body: string; error: string }> {
  const url = `http://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`;
  const t = String(Math.max(1, Math.ceil(timeoutSeconds)));
  const r = await ctx.exec(
    // no -T: busybox 1.35's wget crashes with it (SIGSEGV); the exec timeout bounds the wait instead
    ...splitArgv(inNetns(pid, ['/bin/busybox', 'wget', '-q', '-S', '-O', '-', url])),
    {
      timeoutMs: (Number(t) + 2) * 1000,
    },
  );
  const statuses = [...r.stderr.matchAll(/HTTP\/\d(?:\.\d)?\s+(\d{3})/g)];
  const status = statuses.length ? Number(statuses[statuses.length - 1]![1]) : 0;
  const error = status ? '' : r.stderr.trim().split('\n').pop() || `wget exit ${r.code}`;
  return { status, body: r.stdout, error };
}

function backoffMs(restarts: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** Math.max(0, restarts - 1));
}

async function kubelet(ctx: Ctx, p: PodRecord): Promise<void> {
  const now = ctx.now();
  for (const c of p.containers) {
    if (c.run && !c.exited) {
      const st: ContainerState = await inspectContainer(join(podDir(ctx.root, p), c.name), c.run);
      if (st.state === 'stopped') {
        // like a node that came back: start it again now, no crash, no restart counted
        c.run = null;
        c.waiting = 'ContainerCreating';
        c.ready = false;
      } else if (st.state === 'exited') {
        c.exited = { exitCode: st.exitCode, at: st.at };
        c.ready = false;
      }
    }
    const ended = c.exited;
    const mayRestart =
      p.restartPolicy === 'Always' ||
      (p.restartPolicy === 'OnFailure' && ended !== null && ended.exitCode !== 0);
    if (!c.run)
      await startOne(ctx, p, c); // never started, or waiting for its image/config: retry
    else if (ended && mayRestart && now >= ended.at + backoffMs(c.restartCount + 1)) {
      c.last = ended;
      c.restartCount += 1;
      await startOne(ctx, p, c);
    }
  }
  // phase and readiness
  const specs = new Map(arr(p.spec.containers).map((x) => [str(x.name, 'main'), x]));
  const done = p.containers.every(
    (c) =>
      c.exited &&
      !(p.restartPolicy === 'Always' || (p.restartPolicy === 'OnFailure' && c.exited.exitCode !== 0)),
  );
  if (done) p.phase = p.containers.every((c) => c.exited?.exitCode === 0) ? 'Succeeded' : 'Failed';
  else if (p.containers.some((c) => c.run && !c.exited)) p.phase = 'Running';
  for (const c of p.containers) {
    if (!c.run || c.exited || now - c.run.startedAt < OBSERVE_MS) {
      c.ready = false;
      continue;
    }
    const r = await readinessProbe(ctx, c, specs.get(c.name) ?? {});
    c.ready = r.ok;
    c.probeMessage = r.ok ? null : `readiness probe failed: ${r.message}`;
  }
}

/**
 * Stops and removes the pods that mount one of the claims (as scaling their workloads to zero
 * would), so a copy of the claims' folders is consistent; the next reconcile starts them again.
 */
export async function stopPodsMounting(ctx: Ctx, claims: Set<string>): Promise<string[]> {
  const mounting = Object.values(ctx.state.pods).filter((p) =>
    ((p.spec.volumes as { persistentVolumeClaim?: { claimName?: string } }[] | undefined) ?? []).some((v) =>
      claims.has(`${p.namespace}/${v.persistentVolumeClaim?.claimName}`),
    ),
  );
  for (const p of mounting) await removePod(ctx, p);
  // named as the real drivers name them: the Deployment that owns the ReplicaSet
  const deploymentOf = (rs: string) =>
    Object.entries(ctx.state.replicaSets).find(([, sets]) => sets.some((r) => r.name === rs))?.[0];
  const names = mounting.map((p) => {
    const d = p.owner.kind === 'ReplicaSet' ? deploymentOf(p.owner.name) : undefined;
    return d ? `Deployment ${d}` : `${p.owner.kind} ${p.namespace}/${p.owner.name}`;
  });
  return [...new Set(names)];
}

async function removePod(ctx: Ctx, p: PodRecord): Promise<void> {
  await Promise.all(p.containers.map((c) => (c.run && !c.exited ? stopContainer(c.run, 1000) : undefined)));
  await rm(podDir(ctx.root, p), { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  delete ctx.state.pods[podKey(p.namespace, p.name)];
}

/**
 * Containers whose pod is not in the datastore: an engine killed after starting a container but
 * before saving the state leaves one. Like the kubelet's garbage collector, stop and remove them.
 * Only a process whose root is inside this box's stand-in folder is ever signalled.
 */
async function collectOrphans(ctx: Ctx): Promise<void> {
  const base = join(standinDir(ctx.root), 'pods');
  const known = new Set(Object.values(ctx.state.pods).map((p) => basename(podDir(ctx.root, p))));
  for (const d of await readdir(base).catch(() => [] as string[])) {
    if (known.has(d)) continue;
    for (const c of await readdir(join(base, d)).catch(() => [] as string[])) {
      const pid = Number.parseInt(await readFile(join(base, d, c, 'pid'), 'utf8').catch(() => ''), 10);
      if (!(pid > 0)) continue;
      const procRoot = await readlink(`/proc/${pid}/root`).catch(() => '');
      if (procRoot.startsWith(`${standinDir(ctx.root)}/`))
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
    }
    // the container's supervisor may still write its exit status there for a moment after the kill
    await rm(join(base, d), { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}

/** One pass of every controller and the kubelet. Twice when a rollout step frees old pods. */
export async function reconcile(ctx: Ctx): Promise<void> {
  await collectOrphans(ctx);
  for (let pass = 0; pass < 2; pass++) {
    const desired: DesiredPod[] = [];
    for (const w of workloadObjects(ctx.state)) {
      if (w.ref.kind === 'Deployment') deploymentPods(ctx, w, desired);
      else otherPods(w, desired);
    }
    const want = new Map(desired.map((d) => [podKey(d.namespace, d.name), d]));
    // pods whose owner is gone or scaled down, and pods of a changed StatefulSet/DaemonSet template
    for (const [k, p] of Object.entries(ctx.state.pods)) {
      const d = want.get(k);
      if (!d || d.owner.uid !== p.owner.uid || hashOf(obj(d.template.spec)) !== hashOf(p.spec))
        await removePod(ctx, p);
    }
    for (const [k, d] of want) if (!ctx.state.pods[k]) ctx.state.pods[k] = newPod(ctx, d);
    await Promise.all(Object.values(ctx.state.pods).map((p) => kubelet(ctx, p)));
    // Job controller
    for (const j of workloadObjects(ctx.state).filter((o) => o.ref.kind === 'Job')) {
      j.job ??= { succeeded: 0, failed: 0, done: null };
      const st = j.job;
      if (st.done) continue;
      for (const p of podsOf(ctx.state, j.uid)) {
        if (p.phase === 'Succeeded') {
          st.succeeded += 1;
          st.done = 'Complete';
        } else if (p.phase === 'Failed') {
          st.failed += 1;
          const c = p.containers.find((x) => x.exited && x.exited.exitCode !== 0);
          st.message = c ? `container ${c.name} exited ${c.exited!.exitCode ?? 'by signal'}` : 'pod failed';
          const limit = Number(obj(j.object.spec).backoffLimit ?? 6);
          if (st.failed > limit) {
            st.done = 'Failed';
            st.reason = 'BackoffLimitExceeded';
          }
          // the failed pod stays for its logs only until the next attempt replaces it
          await removePod(ctx, p);
        }
      }
    }
    // a second pass only when the first made the new ReplicaSet ready (old pods can now stop)
    const rollingDone = workloadObjects(ctx.state)
      .filter((o) => o.ref.kind === 'Deployment')
      .some((d) => {
        const sets = ctx.state.replicaSets[`${d.ref.namespace}/${d.ref.name}`] ?? [];
        const top = sets.reduce<ReplicaSetRecord | null>(
          (a, r) => (!a || r.revision > a.revision ? r : a),
          null,
        );
        return (
          top !== null &&
          sets.some((r) => r !== top && r.replicas > 0) &&
          podsOf(ctx.state, top.uid).filter(podReady).length >= replicasOf(d)
        );
      });
    if (!rollingDone) break;
  }
}

/** Stops every container (the node powers off); the datastore keeps the desired state. */
export async function stopAll(ctx: Ctx): Promise<void> {
  await Promise.all(
    Object.values(ctx.state.pods).flatMap((p) =>
      p.containers.map(async (c) => {
        if (c.run && !c.exited) await stopContainer(c.run, 1000);
      }),
    ),
  );
  ctx.state.pods = {};
  await rm(join(standinDir(ctx.root), 'pods'), { recursive: true, force: true });
}

// ---- status documents, as `kubectl get … -o json` shows them ------------------------------------

function containerStatus(c: ContainerRecord): Obj {
  const term = (e: { exitCode: number | null; at: number }) => ({
    terminated: {
      exitCode: e.exitCode ?? 137,
      reason: e.exitCode === 0 ? 'Completed' : 'Error',
      finishedAt: new Date(e.at).toISOString(),
    },
  });
  let state: Obj;
  if (c.run && !c.exited) state = { running: { startedAt: new Date(c.run.startedAt).toISOString() } };
  else if (c.exited)
    state = {
      waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${c.name}` },
    };
  else
    state = {
      waiting: {
        reason: c.waiting ?? 'ContainerCreating',
        ...(c.probeMessage ? { message: c.probeMessage } : {}),
      },
    };
  const last = c.exited ?? c.last;
  return {
    name: c.name,
    image: c.image,
    ready: c.ready,
    restartCount: c.restartCount,
    started: Boolean(c.run && !c.exited),
    state,
    lastState: last ? term(last) : {},
  };
}

function terminalStatus(p: PodRecord, c: ContainerRecord): Obj {
  // a pod that will not restart shows its container terminated, not waiting
  if (
    c.exited &&
    p.restartPolicy !== 'Always' &&
    !(p.restartPolicy === 'OnFailure' && c.exited.exitCode !== 0)
  )
    return {
      ...containerStatus(c),
      state: {
        terminated: {
          exitCode: c.exited.exitCode ?? 137,
          reason: c.exited.exitCode === 0 ? 'Completed' : 'Error',
        },
      },
    };
  return containerStatus(c);
}

function podDoc(p: PodRecord): KubeObject {
  const ready = podReady(p);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: p.uid,
      ownerReferences: [{ kind: p.owner.kind, name: p.owner.name, uid: p.owner.uid, controller: true }],
    },
    spec: p.spec,
    status: {
      phase: p.phase,
      conditions: [
        { type: 'Ready', status: ready ? 'True' : 'False' },
        { type: 'ContainersReady', status: ready ? 'True' : 'False' },
        { type: 'PodScheduled', status: 'True' },
      ],
      containerStatuses: p.containers.map((c) => terminalStatus(p, c)),
    },
  };
}

/** The cluster's workloads, ReplicaSets and pods, shaped like `kubectl get … -o json` items. */
export function statusDocuments(s: StandinState): KubeObject[] {
  const out: KubeObject[] = [];
  for (const w of workloadObjects(s)) {
    const meta = {
      name: w.ref.name,
      namespace: w.ref.namespace ?? 'default',
      uid: w.uid,
      generation: w.generation,
    };
    if (w.ref.kind === 'Deployment') {
      const sets = s.replicaSets[`${meta.namespace}/${meta.name}`] ?? [];
      const top = sets.reduce<ReplicaSetRecord | null>(
        (a, r) => (!a || r.revision > a.revision ? r : a),
        null,
      );
      let total = 0;
      let ready = 0;
      for (const r of sets) {
        const pods = podsOf(s, r.uid);
        total += pods.length;
        ready += pods.filter(podReady).length;
        out.push({
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name: r.name,
            namespace: meta.namespace,
            uid: r.uid,
            annotations: { 'deployment.kubernetes.io/revision': String(r.revision) },
            ownerReferences: [{ kind: 'Deployment', name: meta.name, uid: w.uid, controller: true }],
          },
          status: { replicas: pods.length, readyReplicas: pods.filter(podReady).length },
        });
      }
      const updated = top ? podsOf(s, top.uid) : [];
      out.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {
          ...meta,
          annotations: { 'deployment.kubernetes.io/revision': String(top?.revision ?? 0) },
        },
        spec: { replicas: replicasOf(w) },
        status: {
          observedGeneration: w.generation,
          replicas: total,
          updatedReplicas: updated.length,
          readyReplicas: ready,
          availableReplicas: updated.filter(podReady).length,
        },
      });
    } else if (w.ref.kind === 'StatefulSet' || w.ref.kind === 'DaemonSet') {
      const pods = podsOf(s, w.uid);
      const ready = pods.filter(podReady).length;
      const rev = hashOf(obj(template(w).spec));
      const updated = pods.filter((p) => hashOf(p.spec) === rev).length;
      out.push({
        apiVersion: 'apps/v1',
        kind: w.ref.kind,
        metadata: meta,
        spec: w.ref.kind === 'StatefulSet' ? { replicas: replicasOf(w) } : {},
        status:
          w.ref.kind === 'StatefulSet'
            ? {
                observedGeneration: w.generation,
                replicas: pods.length,
                readyReplicas: ready,
                availableReplicas: ready,
                updatedReplicas: updated,
                currentRevision: rev,
                updateRevision: rev,
              }
            : {
                observedGeneration: w.generation,
                desiredNumberScheduled: 1,
                numberReady: ready,
                numberAvailable: ready,
                updatedNumberScheduled: updated,
                currentNumberScheduled: pods.length,
              },
      });
    } else {
      const j = w.job ?? { succeeded: 0, failed: 0, done: null };
      const conditions =
        j.done === 'Complete'
          ? [{ type: 'Complete', status: 'True', reason: 'CompletionsReached' }]
          : j.done === 'Failed'
            ? [
                {
                  type: 'Failed',
                  status: 'True',
                  reason: j.reason ?? 'BackoffLimitExceeded',
                  message: `Job has reached the specified backoff limit; last attempt: ${j.message ?? 'unknown'}`,
                },
              ]
            : [];
      out.push({
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: meta,
        spec: { completions: 1 },
        status: {
          succeeded: j.succeeded,
          failed: j.failed,
          active: podsOf(s, w.uid).filter((p) => p.phase === 'Running').length,
          conditions,
        },
      });
    }
  }
  for (const p of Object.values(s.pods)) out.push(podDoc(p));
  return out;
}
