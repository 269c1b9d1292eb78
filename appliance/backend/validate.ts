// Every object is checked against the Kubernetes OpenAPI schema through kubernetes-models: the
// class for its apiVersion and kind is looked up by module path, so any built-in kind works.
import { DrydockError } from '../../core/index.ts';
import type { KubeObject } from './api.ts';

type ModelClass = new (data: unknown) => { validate(): void; toJSON(): unknown };

const cache = new Map<string, Record<string, unknown>>();

async function group(apiVersion: string): Promise<Record<string, unknown> | null> {
  if (!/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/.test(apiVersion)) return null;
  if (!cache.has(apiVersion)) {
    try {
      cache.set(apiVersion, (await import(`kubernetes-models/${apiVersion}`)) as Record<string, unknown>);
    } catch {
      return null;
    }
  }
  return cache.get(apiVersion)!;
}

/** Validates and returns the object as plain JSON (the model's own serialisation). */
export async function validateObject(obj: KubeObject): Promise<KubeObject> {
  const where = `${obj.kind ?? '?'} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name ?? '?'}`;
  const mod = await group(String(obj.apiVersion));
  const Model = mod?.[obj.kind] as ModelClass | undefined;
  if (!Model)
    throw new DrydockError(
      'SPEC_INVALID',
      `${where}: ${obj.apiVersion} ${obj.kind} is not a Kubernetes kind kubernetes-models knows`,
    );
  const { apiVersion: _a, kind: _k, ...data } = JSON.parse(JSON.stringify(obj)) as KubeObject;
  const m = new Model(data);
  try {
    m.validate();
  } catch (e) {
    throw new DrydockError('SPEC_INVALID', `${where}: ${(e as Error).message}`);
  }
  if (!obj.metadata?.name) throw new DrydockError('SPEC_INVALID', `${where}: metadata.name is missing`);
  return JSON.parse(JSON.stringify(m.toJSON())) as KubeObject;
}
