// The k3s driver (updater/cluster/k3s.ts) against the kube-peer, which keeps its datastore where k3s
// does (server/db/state.db, kine on SQLite): kubectl and ctr are the peer's, "systemctl stop/start
// k3s" stops and starts the peer (scripts/kube-peer.sh down/up, which, unlike k3s.service, also
// stops the pods). What only k3s has (its version, etcd) is in test/cluster/k3s-driver.test.ts.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo } from '../../../examples/demo/index.ts';
import { BlobStore } from '../../../updater/blobstore/index.ts';
import { readBundle } from '../../../updater/bundle/index.ts';
import { K3sDriver, MANIFESTS_DIR, type Quiesced } from '../../../updater/cluster/index.ts';
import type { Release } from '../../../updater/release/index.ts';
import { kubectl, type Peer, peerDown, peerUp, SCRIPT } from './peer.ts';

let work: string;
let peer: Peer;
let driver: K3sDriver;
let store: BlobStore;
let release: Release;
const volume = () => join(work, 'volumes', 'data');

// a writer that appends one numbered line a few times a second to a volume on this machine
const manifests = (extra = '') => [
  {
    name: 'app.yaml',
    content: `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: shop-data}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: shop, name: data}
  hostPath: {path: ${volume()}, type: DirectoryOrCreate}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  volumeName: shop-data
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: writer, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: writer}}
  template:
    metadata: {labels: {app: writer}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: w
          image: demo.local/drydock-demo/web:1.0.0
          imagePullPolicy: Never
          command: ["/bin/busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i >> /data/log; sleep 0.2; done"]
          volumeMounts: [{name: d, mountPath: /data}]
      volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
${extra}`,
  },
];

const ready = async () => {
  await expect
    .poll(
      async () => {
        const [h] = await driver.workloads([{ kind: 'Deployment', namespace: 'shop', name: 'writer' }]);
        return h!.ready;
      },
      { timeout: 120_000, interval: 1000 },
    )
    .toBe(true);
};
const lines = async () =>
  (await readFile(join(volume(), 'log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

beforeAll(async () => {
  const demo = await buildDemo();
  work = await mkdtemp(join(tmpdir(), 'drydock-k3s-peer-'));
  peer = await peerUp(join(work, 'peer'), { portFrom: 46443 });
  // "systemctl stop|start|restart k3s" for this peer
  const svc = join(work, 'systemctl');
  await writeFile(
    svc,
    `#!/bin/sh
case "$1" in
  stop) exec '${SCRIPT}' down --dir '${peer.dir}' >&2 ;;
  start) exec '${SCRIPT}' up --dir '${peer.dir}' --api-port ${peer.apiPort} >/dev/null ;;
  restart) '${SCRIPT}' down --dir '${peer.dir}' >&2 && exec '${SCRIPT}' up --dir '${peer.dir}' --api-port ${peer.apiPort} >/dev/null ;;
esac
`,
  );
  await chmod(svc, 0o755);
  store = await new BlobStore(join(work, 'blobs')).open();
  release = (await readBundle(demo.bundles['1.0.0'], { trustedRoot: demo.rootPath, blobs: store })).release;
  driver = new K3sDriver({
    root: work,
    nodeRoot: '/',
    dataDir: relative(work, peer.dir),
    kubectl: [peer.kubectl, '--kubeconfig', peer.kubeconfig],
    ctr: ['ctr', '--address', peer.containerdSocket],
    systemctl: [svc],
    quiesceTimeoutSeconds: 60,
  });
}, 50 * 60_000);

afterAll(async () => {
  if (peer) await peerDown(peer.dir);
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}, 5 * 60_000);

describe('the k3s driver on a real API server and kubelet', () => {
  it('imports the image, applies server-side, retires old auto-deploy files; the writer runs', async () => {
    // a file an earlier Drydock left in k3s's auto-deploy folder
    await mkdir(join(work, MANIFESTS_DIR), { recursive: true });
    await writeFile(join(work, MANIFESTS_DIR, 'drydock-web.yaml'), 'kind: old');
    await writeFile(join(work, MANIFESTS_DIR, 'traefik.yaml'), 'kind: not ours');
    expect(await driver.importImages(release.images, store)).toEqual({ imported: 1, skipped: 0 });
    await driver.applyManifests({ name: 'shop', version: '1' }, manifests(), null);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(join(work, MANIFESTS_DIR))).toEqual(['traefik.yaml']);
    await ready();
    await expect.poll(async () => (await lines()).length, { timeout: 30_000 }).toBeGreaterThan(3);
    expect((await driver.ping()).ok).toBe(true);
  }, 300_000);

  it('hook Jobs run on the kubelet: one that exits 0 succeeds, one that exits 3 fails with its exit code', async () => {
    const job = (name: string, exit: number) => ({
      name: `${name}.yaml`,
      content: `apiVersion: batch/v1
kind: Job
metadata: {name: ${name}, namespace: shop}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: h, image: demo.local/drydock-demo/web:1.0.0, imagePullPolicy: Never, command: ["/bin/busybox", "sh", "-c", "echo hook; exit ${exit}"]}
`,
    });
    const good = await driver.runJob(job('migrate', 0), 120);
    expect(good.ok, good.message).toBe(true);
    const bad = await driver.runJob(job('broken', 3), 120);
    expect(bad.ok).toBe(false);
    expect(bad.message).toMatch(/exit 3|BackoffLimitExceeded/);
    // the driver deletes a hook's Job when it is done
    await expect
      .poll(async () => (await kubectl(peer, ['get', 'jobs', '-n', 'shop', '-o', 'name'])).trim(), {
        timeout: 60_000,
      })
      .toBe('');
  }, 300_000);

  it('a snapshot copies state.db online and the volume with its writer stopped, then starts it again', async () => {
    const snap = join(work, 'snap');
    const taken = await driver.snapshot(snap, [{ namespace: 'shop', claim: 'data' }]);
    expect(taken.stopped).toEqual(['Deployment shop/writer']);
    expect(taken.downMs).toBeGreaterThan(0);
    const q = JSON.parse(await readFile(join(snap, 'quiesce.json'), 'utf8')) as Quiesced;
    expect(q.workloads).toEqual([{ kind: 'Deployment', namespace: 'shop', name: 'writer', replicas: 1 }]);
    // the copy is of a folder nobody wrote: its last line is whole, and the writer went on after it
    const copied = (await readFile(join(snap, 'volumes', 'shop_data', 'log'), 'utf8')).split('\n');
    expect(copied.at(-1)).toBe('');
    const n = Number(copied.at(-2));
    expect(n).toBeGreaterThan(3);
    await ready();
    await expect.poll(async () => Number((await lines()).at(-1)), { timeout: 60_000 }).toBeGreaterThan(n);
    const deploy = JSON.parse(await kubectl(peer, ['get', 'deploy', 'writer', '-n', 'shop', '-o', 'json']));
    expect(deploy.spec.replicas).toBe(1);
  }, 300_000);

  it('a restore stops the writer, stops the cluster, puts state.db and the volume back, starts both', async () => {
    const snap = join(work, 'snap');
    const taken = (await readFile(join(snap, 'volumes', 'shop_data', 'log'), 'utf8'))
      .split('\n')
      .filter(Boolean);
    // after the snapshot: a new object, and more lines in the volume
    await driver.applyManifests(
      { name: 'shop', version: '2' },
      manifests('---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: added, namespace: shop}\n'),
      null,
    );
    await expect
      .poll(async () => (await lines()).length, { timeout: 30_000 })
      .toBeGreaterThan(taken.length + 3);
    await driver.restore(snap, [{ namespace: 'shop', claim: 'data' }]);
    // the datastore is the snapshot's: the ConfigMap made after it is gone
    await expect(kubectl(peer, ['get', 'configmap', 'added', '-n', 'shop'])).rejects.toThrow(/NotFound/);
    await ready();
    // the volume restarted from the snapshot's lines (the writer counts on from 0 in a new pod)
    const back = await lines();
    expect(back.slice(0, taken.length)).toEqual(taken);
    expect(back.length).toBeLessThan(taken.length + 200);
  }, 600_000);
});
