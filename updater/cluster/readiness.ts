// Readiness of a release's workloads, read from the documents that
// `kubectl get deploy,statefulset,daemonset,job,pods,replicasets -o json` returns. The rules follow
// `kubectl rollout status`: a workload is ready only when its controller has observed the newest
// generation, every replica runs the new template, and all of them are available. When it is not,
// the message says why in plain words, taken from the pods (CrashLoopBackOff, exit code, restarts).
// Both drivers use this: the k3s driver on the API server's answer, the stand-in on its own state.
import type { WorkloadHealth } from '../engine/api.ts';
import type { Workload } from '../release/index.ts';

// only the fields we read; the API server sends many more
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; uid?: string; controller?: boolean }[];
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface KubeList {
  items?: KubeObject[];
}

interface ContainerStatus {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  state?: {
    waiting?: { reason?: string; message?: string };
    running?: { startedAt?: string };
    terminated?: { exitCode?: number; reason?: string; signal?: number };
  };
  lastState?: { terminated?: { exitCode?: number; reason?: string; signal?: number } };
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const conditions = (o: KubeObject): Condition[] =>
  Array.isArray(o.status?.conditions) ? (o.status.conditions as Condition[]) : [];
const condition = (o: KubeObject, type: string) => conditions(o).find((c) => c.type === type);
const ownedBy = (o: KubeObject, uid: string | undefined) =>
  uid !== undefined && (o.metadata?.ownerReferences ?? []).some((r) => r.uid === uid);

/** Why a pod is not ready, in plain words, e.g. "container web CrashLoopBackOff (exit 1, 4 restarts)". */
export function podProblem(pod: KubeObject): string | null {
  const status = pod.status ?? {};
  const all = [
    ...((status.initContainerStatuses as ContainerStatus[] | undefined) ?? []),
    ...((status.containerStatuses as ContainerStatus[] | undefined) ?? []),
  ];
  for (const c of all) {
    if (c.ready) continue;
    const name = c.name ?? '?';
    const last = c.lastState?.terminated;
    const restarts = num(c.restartCount);
    const tail = (exit: number | undefined) => {
      const parts: string[] = [];
      if (exit !== undefined) parts.push(`exit ${exit}`);
      if (restarts > 0) parts.push(`${restarts} restart${restarts === 1 ? '' : 's'}`);
      return parts.length ? ` (${parts.join(', ')})` : '';
    };
    if (c.state?.waiting)
      return `container ${name} ${c.state.waiting.reason ?? 'waiting'}${tail(last?.exitCode)}`;
    if (c.state?.terminated)
      return `container ${name} ${c.state.terminated.reason ?? 'terminated'}${tail(c.state.terminated.exitCode)}`;
    if (c.state?.running) return `container ${name} running but not ready${tail(undefined)}`;
  }
  if (all.length === 0) {
    const scheduled = (status.conditions as Condition[] | undefined)?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False')
      return `pod not scheduled: ${scheduled.message ?? scheduled.reason ?? ''}`.trim();
    return `pod ${String(status.phase ?? 'Pending').toLowerCase()}`;
  }
  return null;
}

function firstProblem(pods: KubeObject[]): string | null {
  for (const p of pods) {
    const why = podProblem(p);
    if (why) return why;
  }
  return null;
}

function find(items: KubeObject[], w: Workload): KubeObject | undefined {
  return items.find(
    (o) =>
      o.kind === w.kind &&
      o.metadata?.name === w.name &&
      (o.metadata?.namespace ?? 'default') === w.namespace,
  );
}

function deployment(d: KubeObject, items: KubeObject[]): { ready: boolean; message: string } {
  const gen = num(d.metadata?.generation);
  const st = d.status ?? {};
  const want = d.spec?.replicas === undefined ? 1 : num(d.spec.replicas);
  if (num(st.observedGeneration) < gen)
    return { ready: false, message: `rollout pending: generation ${gen} not yet observed by the controller` };
  const progressing = condition(d, 'Progressing');
  const updated = num(st.updatedReplicas);
  const available = num(st.availableReplicas);
  const total = num(st.replicas);
  // pods of the newest ReplicaSet (highest revision) tell why the rollout does not finish
  const sets = items.filter((o) => o.kind === 'ReplicaSet' && ownedBy(o, d.metadata?.uid));
  const rev = (o: KubeObject) => Number(o.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0);
  const newest = sets.sort((a, b) => rev(b) - rev(a))[0];
  const newPods = newest ? items.filter((o) => o.kind === 'Pod' && ownedBy(o, newest.metadata?.uid)) : [];
  const newReady = newest ? num(newest.status?.readyReplicas) : 0;
  const oldServing = sets
    .filter((s) => s !== newest && num(s.status?.replicas) > 0)
    .map((s) => `old ReplicaSet ${s.metadata?.name} still serving ${num(s.status?.readyReplicas)}`);
  const why = () => {
    const parts = [firstProblem(newPods), ...oldServing].filter(Boolean);
    return parts.length ? `: ${parts.join('; ')}` : '';
  };
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded')
    return {
      ready: false,
      message: `rollout failed (progress deadline exceeded), ${newReady}/${want} ready${why()}`,
    };
  // new pods not all there yet, or old ones still running: the rollout has not finished
  if (updated < want || total > updated)
    return { ready: false, message: `${newReady}/${want} ready, rollout in progress${why()}` };
  if (available < updated) return { ready: false, message: `${available}/${want} ready${why()}` };
  return { ready: true, message: `${available}/${want} ready` };
}

function statefulSet(s: KubeObject, items: KubeObject[]): { ready: boolean; message: string } {
  const st = s.status ?? {};
  const want = s.spec?.replicas === undefined ? 1 : num(s.spec.replicas);
  if (num(st.observedGeneration) < num(s.metadata?.generation))
    return {
      ready: false,
      message: `rollout pending: generation ${num(s.metadata?.generation)} not yet observed`,
    };
  const pods = items.filter((o) => o.kind === 'Pod' && ownedBy(o, s.metadata?.uid));
  const why = () => {
    const p = firstProblem(pods);
    return p ? `: ${p}` : '';
  };
  const ready = num(st.readyReplicas);
  if (num(st.updatedReplicas) < want || (st.updateRevision && st.updateRevision !== st.currentRevision))
    return { ready: false, message: `${ready}/${want} ready, rollout in progress${why()}` };
  if (ready < want || num(st.availableReplicas ?? ready) < want)
    return { ready: false, message: `${ready}/${want} ready${why()}` };
  return { ready: true, message: `${ready}/${want} ready` };
}

function daemonSet(s: KubeObject, items: KubeObject[]): { ready: boolean; message: string } {
  const st = s.status ?? {};
  if (num(st.observedGeneration) < num(s.metadata?.generation))
    return {
      ready: false,
      message: `rollout pending: generation ${num(s.metadata?.generation)} not yet observed`,
    };
  const want = num(st.desiredNumberScheduled);
  const pods = items.filter((o) => o.kind === 'Pod' && ownedBy(o, s.metadata?.uid));
  const why = () => {
    const p = firstProblem(pods);
    return p ? `: ${p}` : '';
  };
  const available = num(st.numberAvailable);
  if (num(st.updatedNumberScheduled) < want)
    return { ready: false, message: `${available}/${want} ready, rollout in progress${why()}` };
  if (available < want || num(st.numberReady) < want)
    return { ready: false, message: `${num(st.numberReady)}/${want} ready${why()}` };
  return { ready: true, message: `${available}/${want} ready` };
}

function job(j: KubeObject, items: KubeObject[]): { ready: boolean; message: string } {
  const failed = condition(j, 'Failed');
  const pods = items.filter((o) => o.kind === 'Pod' && ownedBy(o, j.metadata?.uid));
  if (failed?.status === 'True') {
    const p = firstProblem(pods);
    return {
      ready: false,
      message: `failed: ${failed.reason ?? 'Failed'}${failed.message ? ` (${failed.message})` : ''}${p ? `; ${p}` : ''}`,
    };
  }
  const complete = condition(j, 'Complete');
  const want = j.spec?.completions === undefined ? 1 : num(j.spec.completions);
  if (complete?.status === 'True')
    return { ready: true, message: `complete (${num(j.status?.succeeded)}/${want})` };
  const p = firstProblem(pods);
  return {
    ready: false,
    message: `running: ${num(j.status?.succeeded)}/${want} succeeded, ${num(j.status?.active)} active${p ? `; ${p}` : ''}`,
  };
}

/** Health of each workload, from one `kubectl get … -o json` List (or several merged). */
export function workloadHealth(list: KubeList | KubeObject[], workloads: Workload[]): WorkloadHealth[] {
  const items = Array.isArray(list) ? list : (list.items ?? []);
  return workloads.map((w) => {
    const ns = w.namespace ?? 'default';
    const base = { kind: w.kind, namespace: ns, name: w.name };
    const o = find(items, { ...w, namespace: ns });
    if (!o) return { ...base, ready: false, message: `${w.kind} ${ns}/${w.name} not found` };
    const r =
      w.kind === 'Deployment'
        ? deployment(o, items)
        : w.kind === 'StatefulSet'
          ? statefulSet(o, items)
          : w.kind === 'DaemonSet'
            ? daemonSet(o, items)
            : job(o, items);
    return { ...base, ...r };
  });
}

/** True when a workload can no longer become ready without a new release (failed Job, deadline exceeded). */
export function hasFailed(h: WorkloadHealth): boolean {
  return !h.ready && /^(failed:|rollout failed)/.test(h.message);
}
