// One apply mechanism for any conformant cluster (k3s included): server-side apply of every object
// of a release, and pruning by an ApplySet (the label scheme kubectl's --applyset uses). The parent
// is a ConfigMap that records which group-kinds the set may hold; every member carries the label
// applyset.kubernetes.io/part-of=<id>. Pruning lists members by that label over the recorded
// group-kinds and deletes those the new release does not have, namespaced or cluster-scoped alike,
// so correctness never depends on a deploy controller's bookkeeping (e.g. k3s Addon checksums): a
// part dropped and re-added comes back, an object moved between files is the same object.
// The recorded group-kinds are widened before applying and narrowed only after pruning, so a crash
// in between still finds every member on the next run.
import { createHash } from 'node:crypto';
import { DrydockError } from '../../core/index.ts';
import type { ReleaseId, RenderedManifest } from './api.ts';
import type { Kubectl } from './kubectl.ts';
import { type KubeManifestObject, parseObjects } from './manifests.ts';

export const PART_OF_LABEL = 'applyset.kubernetes.io/part-of';
export const ID_LABEL = 'applyset.kubernetes.io/id';
export const GROUP_KINDS_ANNOTATION = 'applyset.kubernetes.io/contains-group-kinds';
export const TOOLING_ANNOTATION = 'applyset.kubernetes.io/tooling';
export const PARENT_NAMESPACE = 'drydock-system';
export const FIELD_MANAGER = 'drydock';

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
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
}

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');
const versionOf = (apiVersion: string) => apiVersion.split('/').at(-1)!;
const groupKind = (r: { group: string; kind: string }) => (r.group ? `${r.kind}.${r.group}` : r.kind);
export const memberKey = (r: MemberRef) => `${groupKind(r)}/${r.namespace ?? ''}/${r.name}`;
const APPLY = ['apply', '--server-side', '--force-conflicts', `--field-manager=${FIELD_MANAGER}`, '-f', '-'];
const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

/** The ApplySet id of a parent, as the ApplySet spec derives it (base64url of a SHA-256). */
export function applySetId(parentName: string, parentNamespace = PARENT_NAMESPACE): string {
  const digest = createHash('sha256')
    .update(`${parentName}.${parentNamespace}.ConfigMap.`)
    .digest('base64url');
  return `applyset-${digest}-v1`;
}

export const parentName = (release: Pick<ReleaseId, 'name'>) => `drydock-applyset-${release.name}`;

export class ApplySet {
  #scopes: Map<string, boolean> | null = null;

  constructor(private readonly kubectl: Kubectl) {}

  /**
   * Makes the cluster hold exactly the objects of `next` for this release: applies them (server
   * side, drydock owning every field it sets), then deletes members the release no longer has.
   * Every manifest is parsed first: a broken one changes nothing.
   */
  async apply(release: ReleaseId, next: RenderedManifest[]): Promise<ApplyResult> {
    const id = applySetId(parentName(release));
    const parsed = next.flatMap(parseObjects);
    const objects = parsed.map((o) => ({
      ...o,
      metadata: {
        ...o.metadata,
        labels: { ...((o.metadata.labels as Record<string, string>) ?? {}), [PART_OF_LABEL]: id },
      },
    }));
    const previousKinds = await this.readParent(release);
    const nextKinds = new Set(objects.map((o) => groupKind({ group: groupOf(o.apiVersion), kind: o.kind })));
    const widened = new Set([...previousKinds, ...nextKinds]);
    const replaced: MemberRef[] = [];
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    // namespaces first, so objects inside them apply in the same call
    const ordered = [...objects].sort(
      (x, y) => Number(y.kind === 'Namespace') - Number(x.kind === 'Namespace'),
    );
    let members: MemberRef[];
    if (crds.length === 0) {
      // one call: the widened parent first (kubectl applies in order, so a crash after it still
      // finds every member), then every object
      const r = await this.kubectl.run([...APPLY, '-o', 'json'], {
        input: list([...this.parentDocs(release, widened), ...ordered]),
      });
      // the API server's answer says which objects are namespaced: no discovery call needed
      const scoped = r.code === 0 ? scopesOf(r.stdout) : await this.scopes(objects);
      members = objects.map((o) => member(o, scoped));
      if (r.code !== 0) {
        // say which object failed, and replace a changed Job
        await this.writeParent(release, widened);
        for (const o of ordered) replaced.push(...(await this.applyOne(o, members[objects.indexOf(o)]!)));
      }
    } else {
      await this.writeParent(release, widened);
      const first = ordered.filter((o) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition');
      await this.kubectl.must('applying namespaces and CRDs', APPLY, {
        input: list(first),
        code: 'APPLY_FAILED',
      });
      await this.kubectl.must('waiting for CRDs', [
        'wait',
        '--for=condition=Established',
        '--timeout=60s',
        ...crds.map((o) => `crd/${o.metadata.name}`),
      ]);
      // asked after the CRDs exist, so a cluster-scoped custom kind is known as one
      const scoped = await this.scopes(objects);
      members = objects.map((o) => member(o, scoped));
      const rest = ordered.filter((o) => !first.includes(o));
      if (rest.length && (await this.kubectl.run(APPLY, { input: list(rest) })).code !== 0)
        for (const o of rest) replaced.push(...(await this.applyOne(o, members[objects.indexOf(o)]!)));
    }

    const keep = new Set(members.map(memberKey));
    const current = await this.listMembers(release, widened);
    const pruned = current.filter((c) => !keep.has(memberKey(c)));
    // namespaces last: deleting one first would take the others with it and hide errors
    pruned.sort((a, b) => Number(a.kind === 'Namespace') - Number(b.kind === 'Namespace'));
    for (const p of pruned) await this.remove(p, false);
    if (widened.size !== nextKinds.size) await this.writeParent(release, nextKinds);
    return { applied: members, pruned, replaced };
  }

  /** Members of the release's ApplySet as the cluster has them now. */
  async members(release: ReleaseId): Promise<MemberRef[]> {
    return this.listMembers(release, await this.readParent(release));
  }

  private async applyOne(o: KubeManifestObject, m: MemberRef): Promise<MemberRef[]> {
    const r = await this.kubectl.run(APPLY, { input: JSON.stringify(o) });
    if (r.code === 0) return [];
    const immutable = /field is immutable/.test(r.stderr);
    if (immutable && m.kind === 'Job') {
      // a Job's template cannot change; the new release's Job is a new run of it
      await this.remove(m, true);
      await this.kubectl.must(`applying ${memberKey(m)} after replacing it`, APPLY, {
        input: JSON.stringify(o),
        code: 'APPLY_FAILED',
      });
      return [m];
    }
    throw new DrydockError(
      'APPLY_FAILED',
      immutable
        ? `${memberKey(m)}: the release changes a field that cannot change (${r.stderr.trim().split('\n')[0]}); rename the object or delete it first`
        : `applying ${memberKey(m)}: ${r.stderr.trim()}`,
      { details: { object: memberKey(m), immutable } },
    );
  }

  private async readParent(release: ReleaseId): Promise<Set<string>> {
    const r = await this.kubectl.run([
      'get',
      'configmap',
      parentName(release),
      '-n',
      PARENT_NAMESPACE,
      '-o',
      'json',
    ]);
    if (r.code !== 0) {
      if (/NotFound|not found/.test(r.stderr)) return new Set();
      throw new DrydockError('CLUSTER_UNAVAILABLE', `reading the ApplySet parent: ${r.stderr.trim()}`);
    }
    const kinds = (JSON.parse(r.stdout) as Listed).metadata?.annotations?.[GROUP_KINDS_ANNOTATION] ?? '';
    return new Set(kinds.split(',').filter(Boolean));
  }

  private parentDocs(release: ReleaseId, kinds: Set<string>): unknown[] {
    return [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: PARENT_NAMESPACE } },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: parentName(release),
          namespace: PARENT_NAMESPACE,
          labels: { [ID_LABEL]: applySetId(parentName(release)) },
          annotations: {
            [TOOLING_ANNOTATION]: 'drydock/v1',
            [GROUP_KINDS_ANNOTATION]: [...kinds].sort().join(','),
          },
        },
        data: { release: release.name, version: release.version },
      },
    ];
  }

  private async writeParent(release: ReleaseId, kinds: Set<string>) {
    await this.kubectl.must('writing the ApplySet parent', APPLY, {
      input: list(this.parentDocs(release, kinds)),
      code: 'APPLY_FAILED',
    });
  }

  /**
   * Which group-kinds the API server serves as namespaced (asked, never guessed); asked again when
   * a release holds a kind the last answer did not have (a CRD added since).
   */
  private async scopes(objects: KubeManifestObject[]): Promise<Map<string, boolean>> {
    const known = this.#scopes;
    if (
      known &&
      objects.every(
        (o) => o.kind === 'Namespace' || known.has(groupKind({ group: groupOf(o.apiVersion), kind: o.kind })),
      )
    )
      return known;
    this.#scopes = await this.askScopes();
    return this.#scopes;
  }

  private async askScopes(): Promise<Map<string, boolean>> {
    const out = await this.kubectl.must('listing API resources', ['api-resources', '-o', 'wide']);
    const map = new Map<string, boolean>();
    const [header = '', ...lines] = out.split('\n');
    const col = (name: string) => header.indexOf(name);
    const [iVersion, iNamespaced, iKind] = [col('APIVERSION'), col('NAMESPACED'), col('KIND')];
    for (const line of lines) {
      if (!line.trim()) continue;
      const apiVersion = line.slice(iVersion, iNamespaced).trim();
      const namespaced = line.slice(iNamespaced, iKind).trim() === 'true';
      const kind = line.slice(iKind).trim().split(/\s+/)[0]!;
      map.set(groupKind({ group: groupOf(apiVersion), kind }), namespaced);
    }
    return map;
  }

  private async listMembers(release: ReleaseId, kinds: Set<string>): Promise<MemberRef[]> {
    if (kinds.size === 0) return [];
    const selector = [
      '--all-namespaces',
      '-l',
      `${PART_OF_LABEL}=${applySetId(parentName(release))}`,
      '-o',
      'json',
    ];
    // one call for every kind; per kind only when one of them is gone (a CRD removed)
    let items: Listed[] = [];
    const all = await this.kubectl.run(['get', [...kinds].join(','), ...selector]);
    if (all.code === 0) items = (JSON.parse(all.stdout) as { items?: Listed[] }).items ?? [];
    else
      for (const gk of kinds) {
        const r = await this.kubectl.run(['get', gk, ...selector]);
        if (r.code !== 0) {
          // a kind whose CRD went away has no members left to prune
          if (/the server doesn't have a resource type/.test(r.stderr)) continue;
          throw new DrydockError('APPLY_FAILED', `listing ${gk} of the release: ${r.stderr.trim()}`);
        }
        items.push(...((JSON.parse(r.stdout) as { items?: Listed[] }).items ?? []));
      }
    return items.map((item) => {
      const apiVersion = item.apiVersion ?? '';
      return {
        group: groupOf(apiVersion),
        version: versionOf(apiVersion),
        kind: item.kind ?? '',
        namespace: item.metadata?.namespace ?? null,
        name: item.metadata?.name ?? '',
      };
    });
  }

  private async remove(r: MemberRef, wait: boolean) {
    const target = [`${groupKind(r)}/${r.name}`, ...(r.namespace ? ['-n', r.namespace] : [])];
    const res = await this.kubectl.run([
      'delete',
      ...target,
      '--ignore-not-found',
      `--wait=${wait}`,
      '--cascade=foreground',
    ]);
    if (res.code !== 0)
      throw new DrydockError('APPLY_FAILED', `deleting ${memberKey(r)}: ${res.stderr.trim()}`);
  }
}

/** Namespaced or not, per group-kind, from the objects `kubectl apply -o json` returned. */
function scopesOf(stdout: string): Map<string, boolean> {
  const doc = JSON.parse(stdout) as Listed & { items?: Listed[] };
  const map = new Map<string, boolean>();
  for (const item of doc.kind === 'List' ? (doc.items ?? []) : [doc]) {
    const gk = groupKind({ group: groupOf(item.apiVersion ?? ''), kind: item.kind ?? '' });
    map.set(gk, (map.get(gk) ?? false) || Boolean(item.metadata?.namespace));
  }
  return map;
}

function member(o: KubeManifestObject, scoped: Map<string, boolean>): MemberRef {
  const group = groupOf(o.apiVersion);
  const namespaced =
    o.kind === 'Namespace' ? false : (scoped.get(groupKind({ group, kind: o.kind })) ?? true);
  return {
    group,
    version: versionOf(o.apiVersion),
    kind: o.kind,
    namespace: namespaced ? (o.metadata.namespace ?? 'default') : null,
    name: o.metadata.name,
  };
}
