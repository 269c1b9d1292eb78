// Server-side apply with ApplySet pruning (updater/cluster/applyset.ts) against the real API
// server of the kube-peer (control plane only: these are API semantics, no pod has to run).
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenderedManifest } from '../../../updater/cluster/api.ts';
import { ApplySet, type MemberRef, PART_OF_LABEL } from '../../../updater/cluster/applyset.ts';
import { defaultExec } from '../../../updater/cluster/exec.ts';
import { Kubectl } from '../../../updater/cluster/kubectl.ts';
import { kubectl, type Peer, peerDown, peerUp } from './peer.ts';

const work = mkdtempSync(join(tmpdir(), 'kpa-'));
const dir = join(work, 'peer');

const cm = (name: string, ns = 'default', data = 'v1') =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: ${ns}}\ndata: {v: "${data}"}\n`;
const doc = (...parts: string[]) => parts.join('---\n');
const job = (cmd: string) => `apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: localhost/none:1, command: ["${cmd}"]}]
`;
const deploy = (app: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  selector: {matchLabels: {app: ${app}}}
  template:
    metadata: {labels: {app: ${app}}}
    spec: {containers: [{name: api, image: localhost/none:1}]}
`;

describe('server-side apply + ApplySet pruning on a real API server', () => {
  let peer: Peer;
  let applier: ApplySet;
  const release = (version: string) => ({ name: 'shop', version });
  const get = async (what: string, ns?: string) =>
    JSON.parse(await kubectl(peer, ['get', what, ...(ns ? ['-n', ns] : []), '-o', 'json']));
  const exists = async (what: string, ns?: string) =>
    kubectl(peer, ['get', what, ...(ns ? ['-n', ns] : []), '-o', 'name']).then(
      () => true,
      (e: Error) => {
        if (/NotFound/.test(e.message)) return false;
        throw e;
      },
    );

  beforeAll(async () => {
    peer = await peerUp(dir, { noKubelet: true, portFrom: 26443 });
    applier = new ApplySet(new Kubectl([peer.kubectl, '--kubeconfig', peer.kubeconfig], defaultExec));
  }, 50 * 60_000);

  afterAll(async () => {
    await peerDown(dir);
    await rm(work, { recursive: true, force: true });
  }, 5 * 60_000);

  it('a part dropped by a release comes back when a rollback re-adds it', async () => {
    const v1: RenderedManifest[] = [
      { name: 'app.yaml', content: cm('app') },
      { name: 'extra.yaml', content: cm('extra') },
    ];
    await applier.apply(release('1.0.0'), v1);
    const r2 = await applier.apply(release('1.1.0'), [{ name: 'app.yaml', content: cm('app') }]);
    expect(r2.pruned.map((p) => p.name)).toEqual(['extra']);
    await expect.poll(() => exists('configmap/extra', 'default')).toBe(false);
    await applier.apply(release('1.0.0'), v1); // rollback
    expect(await exists('configmap/extra', 'default')).toBe(true);
    const extra = await get('configmap/extra', 'default');
    expect(extra.metadata.labels[PART_OF_LABEL]).toMatch(/^applyset-.+-v1$/);
  });

  it('an object moved from one file to another survives (same uid)', async () => {
    await applier.apply(release('2.0.0'), [
      { name: 'a.yaml', content: cm('moving') },
      { name: 'b.yaml', content: cm('stay') },
    ]);
    const uid = (await get('configmap/moving', 'default')).metadata.uid;
    const r = await applier.apply(release('2.1.0'), [
      { name: 'a.yaml', content: cm('stay') },
      { name: 'b.yaml', content: cm('moving') },
    ]);
    expect(r.pruned.map((p) => p.name)).not.toContain('moving');
    expect((await get('configmap/moving', 'default')).metadata.uid).toBe(uid);
  });

  it('namespaced and cluster-scoped objects a release drops are deleted', async () => {
    const role =
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: shop-reader}\nrules: []\n';
    const ns = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop-extra}\n';
    await applier.apply(release('3.0.0'), [
      { name: 'app.yaml', content: cm('app') },
      { name: 'extra.yaml', content: doc(ns, cm('inside', 'shop-extra'), role) },
    ]);
    expect(await exists('clusterrole/shop-reader')).toBe(true);
    expect(await exists('configmap/inside', 'shop-extra')).toBe(true);
    const r = await applier.apply(release('3.1.0'), [{ name: 'app.yaml', content: cm('app') }]);
    expect(r.pruned.map((p) => `${p.kind}/${p.name}`).sort()).toEqual([
      'ClusterRole/shop-reader',
      'ConfigMap/inside',
      'Namespace/shop-extra',
    ]);
    await expect.poll(() => exists('clusterrole/shop-reader')).toBe(false);
    await expect.poll(() => exists('namespace/shop-extra'), { timeout: 60_000 }).toBe(false);
    // objects not of this ApplySet are never touched
    await kubectl(peer, ['create', 'configmap', 'not-ours', '-n', 'default']);
    await applier.apply(release('3.2.0'), [{ name: 'app.yaml', content: cm('app') }]);
    expect(await exists('configmap/not-ours', 'default')).toBe(true);
  });

  it('a changed Job template replaces the Job; a changed Deployment selector is a clear error', async () => {
    await applier.apply(release('4.0.0'), [{ name: 'hooks.yaml', content: job('/bin/true') }]);
    const uid = (await get('job/migrate', 'default')).metadata.uid;
    const r = await applier.apply(release('4.1.0'), [{ name: 'hooks.yaml', content: job('/bin/false') }]);
    expect(r.replaced.map((p) => p.name)).toEqual(['migrate']);
    const after = await get('job/migrate', 'default');
    expect(after.metadata.uid).not.toBe(uid);
    expect(after.spec.template.spec.containers[0].command).toEqual(['/bin/false']);

    await applier.apply(release('5.0.0'), [{ name: 'app.yaml', content: deploy('api') }]);
    await expect(
      applier.apply(release('5.1.0'), [{ name: 'app.yaml', content: deploy('api-v2') }]),
    ).rejects.toMatchObject({
      code: 'APPLY_FAILED',
      message: expect.stringMatching(/cannot change/),
    });
    // the failed apply left the running Deployment as it was
    expect((await get('deployment/api', 'default')).spec.selector.matchLabels.app).toBe('api');
  });
});
