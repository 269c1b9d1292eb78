// One apply mechanism for any conformant cluster (k3s included): server-side apply of every object
// of a release, and pruning by an ApplySet (the label scheme kubectl's --applyset uses). The parent
// is a ConfigMap that records which group-kinds the set may hold; every member carries the label
// applyset.kubernetes.io/part-of=<id>. Pruning lists members by that label over the recorded
// group-kinds and deletes those the new release does not have, namespaced or cluster-scoped alike,
// so correctness never depends on a deploy controller's bookkeeping (e.g. k3s Addon checksums).
// The recorded group-kinds are widened before applying and narrowed only after pruning, so a crash
// in between still finds every member on the next run.
import { createHash } from 'node:crypto';
import { DrydockError } from '../../core/index.ts';
import type { ReleaseId, RenderedManifest } from './api.ts';
import type { ExecFn } from './exec.ts';
import { defaultExec } from './exec.ts';
import { type KubeManifestObject, parseObjects } from './manifests.ts';

export const PART_OF_LABEL = 'applyset.kubernetes.io/part-of';
export const ID_LABEL = 'applyset.kubernetes.io/id';
export const GROUP_KINDS_ANNOTATION = 'applyset.kubernetes.io/contains-group-kinds';
export const TOOLING_ANNOTATION = 'applyset.kubernetes.io/tooling';
export const PARENT_NAMESPACE = 'drydock-system';
export const FIELD_MANAGER = 'drydock';

export interface KubernetesApplyOptions {
  /** how to run kubectl, e.g. ['kubectl', '--kubeconfig', FILE] or ['k3s', 'kubectl'] */
  kubectl: string[];
  exec?: ExecFn;
  timeoutMs?: number;
}

export interface MemberRef {
  group: string;
  version: string;
  kind: string;
  namespace: string | null;
  name: string;
}

export interface ApplyResult {
  applied: MemberRef[];
  pruned: MemberRef[];
  /** objects deleted and created again because a field that cannot change did (Jobs only) */
  replaced: MemberRef[];
}

interface Listed {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');
const versionOf = (apiVersion: string) => apiVersion.split('/').at(-1)!;
const groupKind = (r: { group: string; kind: string }) => (r.group ? `${r.kind}.${r.group}` : r.kind);
const keyOf = (r: MemberRef) => `${groupKind(r)}/${r.namespace ?? ''}/${r.name}`;

/** The ApplySet id of a parent, as the ApplySet spec derives it (base64url of a SHA-256). */
export function applySetId(parentName: string, parentNamespace = PARENT_NAMESPACE): string {
  const digest = createHash('sha256')
    .update(`${parentName}.${parentNamespace}.ConfigMap.`)
    .digest('base64url');
  return `applyset-${digest}-v1`;
}

export const parentName = (release: Pick<ReleaseId, 'name'>) => `drydock-applyset-${release.name}`;

export function createKubernetesApplier(opts: KubernetesApplyOptions) {
  const exec = opts.exec ?? defaultExec;
  const [cmd, ...base] = opts.kubectl;
  if (!cmd) throw new DrydockError('CONFIG_INVALID', 'kubectl command is empty');
  const timeoutMs = opts.timeoutMs ?? 120_000;

  // ExecFn has no stdin; documents for `apply -f -` go through execInput
  const kubectl = (args: string[], input?: string) =>
    input === undefined ? exec(cmd, [...base, ...args], { timeoutMs }) : execInput(args, input);
  const execInput = async (args: string[], input: string) => {
    const { spawn } = await import('node:child_process');
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(cmd, [...base, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        resolve({ code: 127, stdout: '', stderr: `${cmd}: ${e.message}` });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, stdout, stderr });
      });
      child.stdin.end(input);
    });
  };
  const must = async (what: string, args: string[], input?: string) => {
    const r = await kubectl(args, input);
    if (r.code !== 0)
      throw new DrydockError('APPLY_FAILED', `${what}: ${r.stderr.trim() || `kubectl exited ${r.code}`}`, {
        details: { args: args.join(' ') },
      });
    return r.stdout;
  };

  async function readParent(release: ReleaseId): Promise<Set<string>> {
    const r = await kubectl(['get', 'configmap', parentName(release), '-n', PARENT_NAMESPACE, '-o', 'json']);
    if (r.code !== 0) {
      if (/NotFound|not found/.test(r.stderr)) return new Set();
      throw new DrydockError('CLUSTER_UNAVAILABLE', `reading the ApplySet parent: ${r.stderr.trim()}`);
    }
    const parent = JSON.parse(r.stdout) as Listed;
    const kinds = parent.metadata?.annotations?.[GROUP_KINDS_ANNOTATION] ?? '';
    return new Set(kinds.split(',').filter(Boolean));
  }

  async function writeParent(release: ReleaseId, kinds: Set<string>) {
    const id = applySetId(parentName(release));
    const docs = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: PARENT_NAMESPACE } },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: parentName(release),
          namespace: PARENT_NAMESPACE,
          labels: { [ID_LABEL]: id },
          annotations: {
            [TOOLING_ANNOTATION]: 'drydock/v1',
            [GROUP_KINDS_ANNOTATION]: [...kinds].sort().join(','),
          },
        },
        data: { release: release.name, version: release.version },
      },
    ];
    await must(
      'writing the ApplySet parent',
      applyArgs(),
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }),
    );
  }

  const applyArgs = () => [
    'apply',
    '--server-side',
    '--force-conflicts',
    `--field-manager=${FIELD_MANAGER}`,
    '-f',
    '-',
  ];

  function member(o: KubeManifestObject, scoped: Map<string, boolean>): MemberRef {
    const group = groupOf(o.apiVersion);
    const namespaced = scoped.get(groupKind({ group, kind: o.kind })) ?? true;
    return {
      group,
      version: versionOf(o.apiVersion),
      kind: o.kind,
      namespace: namespaced ? (o.metadata.namespace ?? 'default') : null,
      name: o.metadata.name,
    };
  }

  /** Which group-kinds the API server serves as namespaced (asked, never guessed). */
  async function scopes(): Promise<Map<string, boolean>> {
    const out = await must('listing API resources', ['api-resources', '-o', 'wide']);
    const map = new Map<string, boolean>();
    const lines = out.split('\n');
    const header = lines[0] ?? '';
    const col = (name: string) => header.indexOf(name);
    const [iVersion, iNamespaced, iKind] = [col('APIVERSION'), col('NAMESPACED'), col('KIND')];
    for (const line of lines.slice(1)) {
      if (!line.trim()) continue;
      const apiVersion = line.slice(iVersion, iNamespaced).trim();
      const namespaced = line.slice(iNamespaced, iKind).trim() === 'true';
      const kind = line.slice(iKind).trim().split(/\s+/)[0]!;
      map.set(groupKind({ group: groupOf(apiVersion), kind }), namespaced);
    }
    return map;
  }

  async function listMembers(release: ReleaseId, kinds: Set<string>): Promise<MemberRef[]> {
    if (kinds.size === 0) return [];
    const id = applySetId(parentName(release));
    const out: MemberRef[] = [];
    for (const gk of kinds) {
      const r = await kubectl(['get', gk, '--all-namespaces', '-l', `${PART_OF_LABEL}=${id}`, '-o', 'json']);
      if (r.code !== 0) {
        // a kind whose CRD went away has no members left to prune
        if (/the server doesn't have a resource type/.test(r.stderr)) continue;
        throw new DrydockError('APPLY_FAILED', `listing ${gk} of the release: ${r.stderr.trim()}`);
      }
      for (const item of (JSON.parse(r.stdout) as { items?: Listed[] }).items ?? []) {
        const apiVersion = item.apiVersion ?? '';
        out.push({
          group: groupOf(apiVersion),
          version: versionOf(apiVersion),
          kind: item.kind ?? gk.split('.')[0]!,
          namespace: item.metadata?.namespace ?? null,
          name: item.metadata?.name ?? '',
        });
      }
    }
    return out;
  }

  const target = (r: MemberRef) => [`${groupKind(r)}/${r.name}`, ...(r.namespace ? ['-n', r.namespace] : [])];

  async function remove(r: MemberRef, wait: boolean) {
    const res = await kubectl([
      'delete',
      ...target(r),
      '--ignore-not-found',
      `--wait=${wait}`,
      '--cascade=foreground',
    ]);
    if (res.code !== 0) throw new DrydockError('APPLY_FAILED', `deleting ${keyOf(r)}: ${res.stderr.trim()}`);
  }

  /**
   * Makes the cluster hold exactly the objects of `next` for this release: applies them (server
   * side, drydock owning every field it sets), then deletes members the release no longer has.
   */
  async function apply(release: ReleaseId, next: RenderedManifest[]): Promise<ApplyResult> {
    const id = applySetId(parentName(release));
    const scoped = await scopes();
    const objects = next.flatMap(parseObjects).map((o) => ({
      ...o,
      metadata: {
        ...o.metadata,
        labels: { ...((o.metadata.labels as Record<string, string>) ?? {}), [PART_OF_LABEL]: id },
      },
    }));
    const members = objects.map((o) => member(o, scoped));
    const unknown = members.filter((m) => !scoped.has(groupKind(m)) && m.kind !== 'Namespace');
    const previousKinds = await readParent(release);
    const nextKinds = new Set(members.map(groupKind));
    await writeParent(release, new Set([...previousKinds, ...nextKinds]));

    const replaced: MemberRef[] = [];
    // namespaces and CRDs first, so objects inside them can be applied in the same run
    const order = (o: KubeManifestObject) =>
      o.kind === 'Namespace' ? 0 : o.kind === 'CustomResourceDefinition' ? 1 : 2;
    const sorted = objects.map((o, i) => ({ o, m: members[i]! })).sort((a, b) => order(a.o) - order(b.o));
    for (const { o, m } of sorted) {
      const r = await kubectl(applyArgs(), JSON.stringify(o));
      if (r.code === 0) continue;
      if (/field is immutable/.test(r.stderr) && m.kind === 'Job') {
        // a Job's template cannot change; the new release's Job is a new run of it
        await remove(m, true);
        await must(`applying ${keyOf(m)} after replacing it`, applyArgs(), JSON.stringify(o));
        replaced.push(m);
        continue;
      }
      const immutable = /field is immutable/.test(r.stderr);
      throw new DrydockError(
        'APPLY_FAILED',
        immutable
          ? `${keyOf(m)}: the release changes a field that cannot change (${r.stderr.trim().split('\n')[0]}); rename the object or delete it first`
          : `applying ${keyOf(m)}: ${r.stderr.trim()}`,
        { details: { object: keyOf(m), immutable, unknownKinds: unknown.map(groupKind) } },
      );
    }

    const keep = new Set(members.map(keyOf));
    const current = await listMembers(release, new Set([...previousKinds, ...nextKinds]));
    const pruned = current.filter((c) => !keep.has(keyOf(c)));
    // namespaces last: deleting one first would take the others with it and hide errors
    pruned.sort((a, b) => Number(a.kind === 'Namespace') - Number(b.kind === 'Namespace'));
    for (const p of pruned) await remove(p, false);
    await writeParent(release, nextKinds);
    return { applied: members, pruned, replaced };
  }

  /** Members of the release's ApplySet as the cluster has them now. */
  async function members(release: ReleaseId): Promise<MemberRef[]> {
    return listMembers(release, await readParent(release));
  }

  return { apply, members };
}

export type KubernetesApplier = ReturnType<typeof createKubernetesApplier>;
