// The manifests of a release and the objects inside them (parsed and checked before anything is
// applied). The stand-in keeps its copy of a release's manifests as drydock-<part>.yaml files in
// k3s's auto-deploy folder; the real drivers apply them server-side (applyset.ts), and the k3s
// driver removes such files an earlier Drydock wrote there.
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DrydockError } from '../../core/index.ts';
import type { RenderedManifest } from './api.ts';
import { atomicWrite, syncDir } from './atomic.ts';

export const MANIFESTS_DIR = 'var/lib/rancher/k3s/server/manifests';
export const FILE_PREFIX = 'drydock-';

export interface KubeManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string | null;
  name: string;
}

// kinds without a namespace (the common ones; a CRD's own kinds default to namespaced)
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'APIService',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'CSIDriver',
  'VolumeAttachment',
  'HelmChart',
]);

export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED.has(kind);
}

export function fileName(part: string): string {
  return `${FILE_PREFIX}${part}`;
}

/** The name of k3s's Addon object for a manifest file: the file name up to its FIRST dot (as k3s does). */
export function addonName(part: string): string {
  return fileName(part).split('.')[0]!;
}

/** The objects of one manifest, validated enough to apply and to delete them by name. */
export function parseObjects(m: RenderedManifest): KubeManifestObject[] {
  const out: KubeManifestObject[] = [];
  const docs = parseAllDocuments(m.content);
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0)
      throw new DrydockError(
        'BUNDLE_RELEASE_INVALID',
        `manifest ${m.name}: ${doc.errors[0]!.message.split('\n')[0]}`,
      );
    const o = doc.toJS() as unknown;
    if (o === null || o === undefined) continue;
    const obj = o as Partial<KubeManifestObject>;
    if (
      typeof o !== 'object' ||
      typeof obj.apiVersion !== 'string' ||
      typeof obj.kind !== 'string' ||
      typeof obj.metadata?.name !== 'string'
    )
      throw new DrydockError(
        'BUNDLE_RELEASE_INVALID',
        `manifest ${m.name}: every document needs apiVersion, kind and metadata.name`,
      );
    if (obj.kind === 'List' && Array.isArray((obj as { items?: unknown }).items))
      throw new DrydockError(
        'BUNDLE_RELEASE_INVALID',
        `manifest ${m.name}: List documents are not supported`,
      );
    out.push(obj as KubeManifestObject);
  }
  return out;
}

export function refOf(o: KubeManifestObject): ObjectRef {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    namespace: isClusterScoped(o.kind) ? null : (o.metadata.namespace ?? 'default'),
    name: o.metadata.name,
  };
}

export function keyOf(r: ObjectRef): string {
  const group = r.apiVersion.includes('/') ? r.apiVersion.split('/')[0] : '';
  return `${group}/${r.kind}/${r.namespace ?? ''}/${r.name}`;
}

/**
 * Makes the auto-deploy folder hold exactly `next` as drydock-<part> files: each written
 * atomically, then the drydock files of other releases removed. Files not ours are left alone.
 */
export async function writeManifestFiles(root: string, next: RenderedManifest[]): Promise<string[]> {
  for (const m of next) {
    if (!/^[a-z0-9][a-z0-9._-]{0,62}\.ya?ml$/.test(m.name))
      throw new DrydockError(
        'BUNDLE_RELEASE_INVALID',
        `manifest name ${JSON.stringify(m.name)} is not a plain .yaml file name`,
      );
    parseObjects(m); // refuse a broken release before touching the folder
  }
  // k3s tracks each file by its name up to the first dot: web.yaml and web.extra.yaml would share one
  const seen = new Map<string, string>();
  for (const m of next) {
    const other = seen.get(addonName(m.name));
    if (other)
      throw new DrydockError(
        'BUNDLE_RELEASE_INVALID',
        `manifests ${other} and ${m.name} would share the k3s addon name ${addonName(m.name)}`,
      );
    seen.set(addonName(m.name), m.name);
  }
  const dir = join(root, MANIFESTS_DIR);
  const wanted = new Set(next.map((m) => fileName(m.name)));
  for (const m of next) await atomicWrite(join(dir, fileName(m.name)), m.content, 0o600);
  const removed: string[] = [];
  for (const f of await readdir(dir)) {
    if (f.startsWith(FILE_PREFIX) && /\.ya?ml$/.test(f) && !wanted.has(f)) {
      await unlink(join(dir, f));
      removed.push(f);
    }
  }
  if (removed.length) await syncDir(dir);
  return removed;
}

/** The drydock manifests currently in the folder (what k3s applies). */
export async function readManifestFiles(root: string): Promise<RenderedManifest[]> {
  const dir = join(root, MANIFESTS_DIR);
  const { readFile } = await import('node:fs/promises');
  const names = (await readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.startsWith(FILE_PREFIX) && /\.ya?ml$/.test(f))
    .sort();
  return Promise.all(
    names.map(async (f) => ({
      name: f.slice(FILE_PREFIX.length),
      content: await readFile(join(dir, f), 'utf8'),
    })),
  );
}
