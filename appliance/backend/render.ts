// The box rendering: the source's objects with the k3s values (local-path volumes on the data disk,
// k3s's Traefik), validated one by one, plus what the box needs around them: Traefik's host ports,
// the per-box secrets to generate at first boot, the pinned image list and the health definition.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { DrydockError } from '../../core/index.ts';
import type { BackendContext, BackendSource, ImagePin, KubeObject, RenderedBackend } from './api.ts';
import { pinned, readLock } from './lock.ts';
import { validateObject } from './validate.ts';

export const BOX_CONTEXT = {
  storageClass: 'local-path',
  ingressClass: 'traefik',
  ingressController: {
    namespace: 'kube-system',
    podLabel: { key: 'app.kubernetes.io/name', value: 'traefik' },
  },
} as const;

/** Applied in this order (namespaces before what lives in them; routes last). */
const KIND_ORDER = [
  'Namespace',
  'NetworkPolicy',
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'Secret',
  'ConfigMap',
  'PersistentVolumeClaim',
  'Service',
  'StatefulSet',
  'Deployment',
  'DaemonSet',
  'Job',
  'CronJob',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'Ingress',
];

export function sortObjects<T extends KubeObject>(objs: T[]): T[] {
  const rank = (k: string) => {
    const i = KIND_ORDER.indexOf(k);
    return i < 0 ? KIND_ORDER.length : i;
  };
  return [...objs].sort(
    (a, b) =>
      rank(a.kind) - rank(b.kind) ||
      String(a.metadata?.namespace ?? '').localeCompare(String(b.metadata?.namespace ?? '')) ||
      String(a.metadata?.name).localeCompare(String(b.metadata?.name)),
  );
}

export function objectId(o: KubeObject): string {
  return `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
}

export function imageResolver(lock: Record<string, ImagePin>, used: Set<string>): (name: string) => string {
  return (name) => {
    const p = lock[name];
    if (!p)
      throw new DrydockError(
        'SPEC_INVALID',
        `image "${name}" is not in the lock file (known: ${Object.keys(lock).join(', ')})`,
      );
    used.add(name);
    return pinned(p);
  };
}

/** Validates every object; refuses duplicates and images not pinned by digest. */
export async function finishObjects(raw: KubeObject[]): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  const seen = new Set<string>();
  for (const o of raw) {
    const v = await validateObject(o);
    const id = objectId(v);
    if (seen.has(id)) throw new DrydockError('SPEC_INVALID', `${id} is defined twice`);
    seen.add(id);
    out.push(v);
  }
  return sortObjects(out);
}

export async function renderBox(source: BackendSource): Promise<RenderedBackend> {
  const lock = await readLock(source.lockFile);
  const used = new Set<string>();
  const ctx: BackendContext = { ...BOX_CONTEXT, image: imageResolver(lock, used) };
  const objects = await finishObjects(source.objects(ctx));
  const images = [...used].sort().map((name) => ({ name, ...lock[name]!, pinned: pinned(lock[name]!) }));
  return {
    source: { name: source.name, version: source.version },
    objects,
    images,
    placeholders: images.filter((i) => i.placeholder).map((i) => i.name),
  };
}

/**
 * k3s installs Traefik from its bundled Helm chart; a HelmChartConfig next to it adjusts the
 * values. The box has no service load balancer, so Traefik binds host ports: 8443 for the backend's
 * web entry point (443 and 80 belong to the updater's admin page) and one per extra entry point.
 */
export function traefikConfig(source: BackendSource): Record<string, unknown> {
  const ports: Record<string, unknown> = {
    web: { expose: { default: false } },
    websecure: { hostPort: 8443 },
  };
  for (const e of source.entrypoints ?? [])
    ports[e.name] = {
      port: e.port,
      hostPort: e.port,
      exposedPort: e.port,
      protocol: e.protocol ?? 'TCP',
      expose: { default: false },
    };
  return {
    apiVersion: 'helm.cattle.io/v1',
    kind: 'HelmChartConfig',
    metadata: { name: 'traefik', namespace: 'kube-system' },
    spec: { valuesContent: YAML.stringify({ service: { type: 'ClusterIP' }, ports }) },
  };
}

export function toYamlDocs(objs: unknown[]): string {
  return objs.map((o) => YAML.stringify(o, { lineWidth: 0 })).join('---\n');
}

export interface BoxFiles {
  /** file name → content, written under --out */
  files: Record<string, string>;
  rendered: RenderedBackend;
}

/**
 * A release spec (updater/bundle/spec.ts) for these files: images pulled by digest at release build time (skopeo),
 * the health gate from the source, and the StatefulSets' volumes as the data a snapshot keeps.
 */
export function releaseSpec(source: BackendSource, rendered: RenderedBackend): Record<string, unknown> {
  const volumes: { namespace: string; claim: string }[] = [];
  for (const o of rendered.objects) {
    if (o.kind !== 'StatefulSet') continue;
    const spec = o.spec as { replicas?: number; volumeClaimTemplates?: { metadata?: { name?: string } }[] };
    for (const t of spec.volumeClaimTemplates ?? [])
      for (let i = 0; i < (spec.replicas ?? 1); i++)
        volumes.push({
          namespace: o.metadata!.namespace ?? 'default',
          claim: `${t.metadata?.name}-${o.metadata!.name}-${i}`,
        });
  }
  return {
    name: source.name,
    version: source.version,
    channel: 'stable',
    upgradeFrom: `<${source.version}`,
    images: rendered.images.map((i) => ({ ref: i.pinned })),
    manifests: ['backend.yaml', 'traefik-config.yaml'],
    health: {
      deadlineSeconds: source.health?.deadlineSeconds ?? 900,
      workloads: source.health?.workloads ?? [],
      probes: source.health?.probes ?? [],
    },
    data: { changesData: false, volumes },
    notes: `${source.name} ${source.version}: ${source.description}.`,
  };
}

export async function renderBoxFiles(source: BackendSource): Promise<BoxFiles> {
  const rendered = await renderBox(source);
  const files: Record<string, string> = {
    'backend.yaml': `# ${source.name} ${source.version}: rendered by drydock backend render for k3s\n${toYamlDocs(rendered.objects)}`,
    'traefik-config.yaml': `# k3s Traefik: host ports for the backend's entry points\n${toYamlDocs([traefikConfig(source)])}`,
    'generated-secrets.json': `${JSON.stringify(source.generatedSecrets ?? [], null, 2)}\n`,
    'images.json': `${JSON.stringify(rendered.images, null, 2)}\n`,
    'health.json': `${JSON.stringify(source.health ?? { workloads: [] }, null, 2)}\n`,
    'release.yaml': `# release spec (drydock release build --spec): images are pulled by digest when the bundle is built\n${YAML.stringify(releaseSpec(source, rendered))}`,
  };
  return { files, rendered };
}

export async function writeFiles(dir: string, files: Record<string, string>): Promise<string[]> {
  const written: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const p = join(dir, name);
    await mkdir(join(p, '..'), { recursive: true });
    await writeFile(p, content);
    written.push(p);
  }
  return written;
}
