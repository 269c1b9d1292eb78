// The real single-node Kubernetes peer (tools/kube-peer, scripts/kube-peer.sh): upstream
// kube-apiserver, controller-manager, scheduler, kubelet and kube-proxy on kine/SQLite, with
// Debian's containerd and CNI plugins. No registry: the demo image is built here and imported with
// `ctr images import`. Runs in `npm test`; a missing tool fails `up` with the setup step to run.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemoImages } from '../../../examples/demo/images.ts';
import { ctr, kubectl, type Peer, peerDown, peerUp, takeNodeLock } from './peer.ts';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'kp-'));
const dir = join(work, 'peer');

const snapshot = async () => ({
  netns: readdirSafe('/run/netns'),
  nat: (await run('iptables', ['-t', 'nat', '-S'])).stdout,
  filter: (await run('iptables', ['-S'])).stdout,
});
const readdirSafe = (p: string) => {
  try {
    return readdirSync(p).sort();
  } catch {
    return [];
  }
};
const mountsUnder = (d: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${d}/`) || m === d);
/** pids whose command line names the peer's folder, or that sit in the peer's pod cgroups */
const processesOf = (d: string, port: number) =>
  readdirSafe('/proc')
    .filter((p) => /^\d+$/.test(p) && p !== String(process.pid))
    .filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
        const cg = readFileSync(`/proc/${p}/cgroup`, 'utf8');
        return cmd.includes(d) || cg.includes(`/kube-peer-${port}`);
      } catch {
        return false;
      }
    });

const DEMO = (replicas: number) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: localhost/drydock/demo:web-1.0.0
        imagePullPolicy: Never
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`;

describe('kube-peer: a real single-node Kubernetes', () => {
  let peer: Peer;
  let before: Awaited<ReturnType<typeof snapshot>>;

  beforeAll(async () => {
    // the node's iptables and netns are compared before and after: no other peer may run meanwhile
    await takeNodeLock(dir);
    before = await snapshot();
    // a cold build of the peer takes 15-30 min on 2 cores; scripts/setup-debian.sh does it ahead
    peer = await peerUp(dir);
    console.log(`kube-peer up in ${peer.upMs} ms (api port ${peer.apiPort})`);
  }, 50 * 60_000);

  afterAll(async () => {
    await peerDown(dir);
    await rm(work, { recursive: true, force: true });
  }, 5 * 60_000);

  it('runs the pinned release with a Ready node on the kine datastore at server/db/state.db', async () => {
    const version = JSON.parse(await kubectl(peer, ['version', '-o', 'json']));
    expect(version.serverVersion.gitVersion).toBe('v1.37.2');
    expect(version.clientVersion.gitVersion).toBe('v1.37.2');
    const node = JSON.parse(await kubectl(peer, ['get', 'node', 'kube-peer', '-o', 'json']));
    const ready = node.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    expect(ready.status).toBe('True');
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.37.2');
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    const db = new Database(join(dir, 'server', 'db', 'state.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db
        .prepare("SELECT COUNT(*) AS n FROM kine WHERE name = '/registry/minions/kube-peer'")
        .get() as {
        n: number;
      };
      expect(row.n).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  });

  it('imports an image built here with ctr, starts a Deployment from it and serves it through a ClusterIP', async () => {
    const layout = join(work, 'oci');
    await buildDemoImages(layout);
    await run('tar', ['-C', layout, '-cf', join(work, 'demo.tar'), '.']);
    await ctr(peer, ['images', 'import', '--base-name', 'localhost/drydock/demo', join(work, 'demo.tar')]);
    expect(await ctr(peer, ['images', 'ls', '-q'])).toContain('localhost/drydock/demo:web-1.0.0');

    await kubectl(peer, ['apply', '--server-side', '--field-manager=drydock-test', '-f', '-'], DEMO(2));
    await expect
      .poll(
        async () =>
          JSON.parse(await kubectl(peer, ['get', 'deployment', 'web', '-o', 'json'])).status
            .availableReplicas ?? 0,
        { timeout: 120_000, interval: 1000 },
      )
      .toBe(2);
    const ip = (await kubectl(peer, ['get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    expect(ip).toMatch(/^10\.43\./);
    // kube-proxy (iptables mode) programs the ClusterIP on the host too
    await expect
      .poll(
        async () => {
          try {
            return await (await fetch(`http://${ip}/`, { signal: AbortSignal.timeout(2000) })).text();
          } catch (err) {
            return String(err);
          }
        },
        { timeout: 60_000, interval: 500 },
      )
      .toContain('<strong id="version">1.0.0</strong>');
  }, 300_000);

  it('does server-side apply: field ownership, conflicts between managers, forced takeover', async () => {
    const d = JSON.parse(
      await kubectl(peer, ['get', 'deployment', 'web', '-o', 'json', '--show-managed-fields']),
    );
    const managers = d.metadata.managedFields.map((f: { manager: string; operation: string }) => [
      f.manager,
      f.operation,
    ]);
    expect(managers).toContainEqual(['drydock-test', 'Apply']);
    // another manager setting the field that drydock-test owns is a conflict...
    await expect(
      kubectl(peer, ['apply', '--server-side', '--field-manager=someone-else', '-f', '-'], DEMO(3)),
    ).rejects.toThrow(/conflict/i);
    // ...unless it forces, and then it owns spec.replicas
    await kubectl(
      peer,
      ['apply', '--server-side', '--force-conflicts', '--field-manager=someone-else', '-f', '-'],
      DEMO(3),
    );
    const after = JSON.parse(
      await kubectl(peer, ['get', 'deployment', 'web', '-o', 'json', '--show-managed-fields']),
    );
    expect(after.spec.replicas).toBe(3);
    const owner = after.metadata.managedFields.find(
      (f: { manager: string; fieldsV1?: { 'f:spec'?: Record<string, unknown> } }) =>
        f.fieldsV1?.['f:spec']?.['f:replicas'] !== undefined,
    );
    expect(owner.manager).toBe('someone-else');
    await expect
      .poll(
        async () =>
          JSON.parse(await kubectl(peer, ['get', 'deployment', 'web', '-o', 'json'])).status
            .availableReplicas ?? 0,
        { timeout: 120_000, interval: 1000 },
      )
      .toBe(3);
  }, 300_000);

  it('down stops everything it started and can be repeated', async () => {
    await peerDown(dir);
    expect(processesOf(dir, peer.apiPort)).toEqual([]);
    expect(mountsUnder(dir)).toEqual([]);
    const after = await snapshot();
    expect(after.netns).toEqual(before.netns);
    expect(after.nat).toEqual(before.nat);
    expect(after.filter).toEqual(before.filter);
    await expect(run('ip', ['link', 'show', `kp${peer.apiPort}`])).rejects.toThrow();
    await peerDown(dir); // idempotent
  }, 300_000);
});
