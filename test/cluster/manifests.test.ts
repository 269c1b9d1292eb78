import { describe, expect, it } from 'vitest';
import { droppedObjects, parseObjects } from '../../updater/cluster/index.ts';
import { kubectlTarget } from '../../updater/cluster/manifests.ts';

const m = (name: string, content: string) => ({ name, content });
const prev = [
  m(
    'app.yaml',
    `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
---
apiVersion: v1
kind: Service
metadata: {name: api}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader, namespace: ignored-for-cluster-scoped}
`,
  ),
];

describe('manifests: what a release dropped', () => {
  it('lists objects of the previous release missing from the next, namespaces last, with kubectl targets', () => {
    const next = [
      m('app.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\n'),
    ];
    const dropped = droppedObjects(next, prev);
    expect(dropped.map((r) => [r.namespace, kubectlTarget(r)])).toEqual([
      ['default', 'service/api'],
      [null, 'clusterrole.rbac.authorization.k8s.io/reader'],
      [null, 'namespace/shop'],
    ]);
  });

  it('an object that moved to another file is not dropped; the same name in another namespace is', () => {
    const next = [
      m('ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n'),
      m(
        'rest.yaml',
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: other}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: default}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n',
      ),
    ];
    expect(droppedObjects(next, prev).map(kubectlTarget)).toEqual(['deployment.apps/api']);
    expect(droppedObjects(next, null)).toEqual([]);
  });

  it('refuses documents that cannot be applied or deleted by name', () => {
    expect(() => parseObjects(m('a.yaml', 'kind: ConfigMap\nmetadata: {name: x}\n'))).toThrow(
      /apiVersion, kind and metadata.name/,
    );
    expect(() =>
      parseObjects(m('a.yaml', 'apiVersion: v1\nkind: List\nmetadata: {name: l}\nitems: []\n')),
    ).toThrow(/List documents/);
    expect(() => parseObjects(m('a.yaml', 'a: [1,'))).toThrow(/manifest a.yaml/);
    expect(parseObjects(m('a.yaml', '---\n# only a comment\n---\n'))).toEqual([]);
  });
});
