// The demo releases through the real CLI on a real Kubernetes (the kube-peer: API server, kubelet,
// containerd, kube-proxy): `drydock box init --cluster kubernetes --kubeconfig FILE`, an update with
// requests counted, a crash-looping release that rolls back by itself, an explicit rollback, images
// reaching containerd only through `ctr images import` (counted by a PATH shim), and the updater
// SIGKILLed at every state and side-effect point of an update and a rollback. After every step the
// cluster itself is checked with kubectl, not only `drydock update status`.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, type Demo } from '../../../examples/demo/index.ts';
import { applySetId } from '../../../updater/cluster/applyset.ts';
import { FAULT_POINTS } from '../../../updater/engine/faults.ts';
import { ACTIVE_STATES } from '../../../updater/engine/machine.ts';
import { ctr, kubectl, type Peer, peerDown, peerUp } from './peer.ts';

const REPO = join(import.meta.dirname, '../../..');
const PAGE = 'http://127.0.0.1:30080/';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let demo: Demo;
let peer: Peer;
let work: string;
let root: string;
let shimLog: string;
let env: Record<string, string>;

function drydock(args: string[], extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/drydock.js'), ...args], {
      cwd: REPO,
      env: { ...process.env, ...env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function status(): Promise<{
  state: string;
  running: { version: string } | null;
  history: HistoryRow[];
}> {
  const r = await drydock(['update', 'status', '--root', root, '--json']);
  if (r.code !== 0) throw new Error(`update status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

interface HistoryRow {
  toVersion: string | null;
  outcome: string;
  reason?: string | null;
}

async function page(): Promise<string> {
  const res = await fetch(PAGE, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

/** What the cluster runs, read with kubectl: the Deployment's image, its rollout, the ApplySet's version. */
async function cluster(): Promise<{ image: string; rolledOut: boolean; applySetVersion: string }> {
  const d = JSON.parse(await kubectl(peer, ['get', 'deploy', 'web', '-n', 'demo', '-o', 'json']));
  const st = d.status ?? {};
  const rolledOut =
    (st.observedGeneration ?? 0) >= d.metadata.generation &&
    st.updatedReplicas === d.spec.replicas &&
    st.availableReplicas === d.spec.replicas &&
    (st.replicas ?? 0) === d.spec.replicas;
  const parent = JSON.parse(
    await kubectl(peer, [
      'get',
      'configmap',
      'drydock-applyset-drydock-demo',
      '-n',
      'drydock-system',
      '-o',
      'json',
    ]),
  );
  return { image: d.spec.template.spec.containers[0].image, rolledOut, applySetVersion: parent.data.version };
}

/** One whole release on the cluster and the box agreeing on which: `version`. */
async function expectWhole(version: string) {
  const s = await status();
  expect(ACTIVE_STATES.has(s.state as never), `state ${s.state}`).toBe(false);
  expect(s.running?.version).toBe(version);
  await expect.poll(async () => (await cluster()).rolledOut, { timeout: 90_000, interval: 1000 }).toBe(true);
  const c = await cluster();
  expect(c.image).toBe(`demo.local/drydock-demo/web:${version}`);
  expect(c.applySetVersion).toBe(version);
  await expect
    .poll(() => page().catch((e) => String(e)), { timeout: 30_000, interval: 500 })
    .toContain(version);
}

const imports = async () =>
  (await readFile(shimLog, 'utf8').catch(() => '')).split('\n').filter((l) => / images import /.test(l));

beforeAll(async () => {
  demo = await buildDemo();
  work = await mkdtemp(join(tmpdir(), 'drydock-kube-box-'));
  root = join(work, 'box');
  peer = await peerUp(join(work, 'peer'), { portFrom: 36443 });
  // every ctr the updater runs is logged, then the real one runs
  const shim = join(work, 'shim');
  shimLog = join(work, 'ctr-calls.log');
  await rm(shim, { recursive: true, force: true });
  const { mkdir } = await import('node:fs/promises');
  await mkdir(shim);
  await writeFile(join(shim, 'ctr'), `#!/bin/sh\necho "$*" >> '${shimLog}'\nexec /usr/bin/ctr "$@"\n`);
  await chmod(join(shim, 'ctr'), 0o755);
  env = { PATH: `${shim}:${process.env.PATH}` };
}, 50 * 60_000);

afterAll(async () => {
  if (peer) await peerDown(peer.dir);
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}, 5 * 60_000);

describe('the demo releases through the CLI on a real Kubernetes', () => {
  it('box init --cluster kubernetes installs 1.0.0: image imported with ctr, pods run it, page serves it', async () => {
    const pw = join(work, 'pw');
    await writeFile(pw, 'a harbour of quiet lanterns\n', { mode: 0o600 });
    const bad = await drydock([
      'box',
      'init',
      '--root',
      root,
      '--trust',
      demo.rootPath,
      '--release',
      demo.bundles['1.0.0'],
      '--cluster',
      'kubernetes',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--cluster kubernetes needs --kubeconfig FILE');
    const r = await drydock([
      'box',
      'init',
      '--root',
      root,
      '--trust',
      demo.rootPath,
      '--release',
      demo.bundles['1.0.0'],
      '--cluster',
      'kubernetes',
      '--kubeconfig',
      peer.kubeconfig,
      '--kubectl',
      peer.kubectl,
      '--containerd-socket',
      peer.containerdSocket,
      '--admin-password-file',
      pw,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const config = await readFile(join(root, 'etc/drydock/config.yaml'), 'utf8');
    expect(config).toContain('cluster: kubernetes');
    expect(config).toContain('kubeconfig: /etc/drydock/kubeconfig');
    const { stat } = await import('node:fs/promises');
    expect((await stat(join(root, 'etc/drydock/kubeconfig'))).mode & 0o777).toBe(0o600);
    await expectWhole('1.0.0');
    expect(await imports()).toHaveLength(1);
    expect((await ctr(peer, ['images', 'ls', '-q'])).split('\n')).toContain(
      'demo.local/drydock-demo/web:1.0.0',
    );
    // the Deployment says imagePullPolicy: Never and no registry is reachable: the pod runs the import
    const pods = JSON.parse(await kubectl(peer, ['get', 'pods', '-n', 'demo', '-o', 'json']));
    expect(pods.items.map((p: { status: { phase: string } }) => p.status.phase)).toContain('Running');
    // the members carry the ApplySet label
    const labels = JSON.parse(await kubectl(peer, ['get', 'deploy', 'web', '-n', 'demo', '-o', 'json']))
      .metadata.labels;
    expect(labels['applyset.kubernetes.io/part-of']).toBe(applySetId('drydock-applyset-drydock-demo'));
  }, 300_000);

  it('update to 1.1.0: a new ReplicaSet takes over; requests to the demo service during the update are counted', async () => {
    const rsBefore = JSON.parse(await kubectl(peer, ['get', 'rs', '-n', 'demo', '-o', 'json'])).items.length;
    let ok = 0;
    let failed = 0;
    let done = false;
    const load = (async () => {
      while (!done) {
        await page().then(
          () => ok++,
          () => failed++,
        );
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const t0 = Date.now();
    const r = await drydock(['update', 'install', demo.bundles['1.1.0'], '--root', root]);
    const ms = Date.now() - t0;
    done = true;
    await load;
    expect(r.code, r.stderr).toBe(0);
    await expectWhole('1.1.0');
    const rs = JSON.parse(await kubectl(peer, ['get', 'rs', '-n', 'demo', '-o', 'json'])).items;
    expect(rs.length).toBe(rsBefore + 1);
    await expect(imports()).resolves.toHaveLength(2);
    console.log(
      `update 1.0.0 → 1.1.0 on the peer: ${ms} ms; requests during it: ${ok} answered, ${failed} failed`,
    );
    expect(ok).toBeGreaterThan(0);
    expect(failed).toBe(0);
  }, 300_000);

  it('1.2.0 crash-loops and rolls back by itself with the reason shown; 1.1.0 serves again', async () => {
    const r = await drydock(['update', 'install', demo.bundles['1.2.0'], '--root', root]);
    expect(r.code).not.toBe(0);
    const s = await status();
    const last = s.history.find((h) => h.toVersion === '1.2.0')!;
    expect(last.outcome).toBe('rolled-back');
    expect(last.reason).toMatch(/CrashLoopBackOff|Error|exit 1/);
    await expectWhole('1.1.0');
  }, 300_000);

  it('an explicit rollback goes back to 1.0.0; the images are still there: nothing is imported again', async () => {
    const before = (await imports()).length;
    const r = await drydock(['update', 'rollback', '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    await expectWhole('1.0.0');
    expect(await imports()).toHaveLength(before);
  }, 300_000);
});

// every point an update and a rollback pass, from the engine's own lists (staging is the same on
// every cluster and is killed in test/e2e/engine/faults.test.ts; the demo releases ship no k3s, so
// apply:k3s is not passed: the first run here showed it, "not killed at apply:k3s")
const UPDATE_POINTS = [
  'snapshotting',
  'applying',
  ...FAULT_POINTS.filter(
    (p) =>
      p !== 'apply:k3s' && (p.startsWith('snapshot:') || p.startsWith('apply:') || p.startsWith('commit:')),
  ),
  'verifying-health',
  'committed',
];
const ROLLBACK_POINTS = ['rolling-back', 'rollback:images', 'rollback:manifests', 'rolled-back'];

describe('SIGKILL of the updater at every point, then a restart: one whole release on the cluster', () => {
  it.each(UPDATE_POINTS)(
    'update 1.0.0 → 1.1.0 killed at %s',
    async (point) => {
      if ((await status()).running?.version !== '1.0.0') {
        const back = await drydock(['update', 'rollback', '--root', root]);
        expect(back.code, back.stderr).toBe(0);
      }
      await expectWhole('1.0.0');
      const r = await drydock(['update', 'install', demo.bundles['1.1.0'], '--root', root], {
        DRYDOCK_FAULT_AT: point,
      });
      // a point the update does not pass would let it finish: that is a failure of this test
      expect(r.signal, `not killed at ${point}: ${r.stdout}${r.stderr}`).toBe('SIGKILL');
      const s = await status(); // the restart: converges the interrupted update
      expect(['1.0.0', '1.1.0']).toContain(s.running?.version);
      await expectWhole(s.running!.version);
    },
    300_000,
  );

  it.each(ROLLBACK_POINTS)(
    'rollback 1.1.0 → 1.0.0 killed at %s',
    async (point) => {
      if ((await status()).running?.version !== '1.1.0') {
        const up = await drydock(['update', 'install', demo.bundles['1.1.0'], '--root', root]);
        expect(up.code, up.stderr).toBe(0);
      }
      await expectWhole('1.1.0');
      const r = await drydock(['update', 'rollback', '--root', root], { DRYDOCK_FAULT_AT: point });
      expect(r.signal, `not killed at ${point}: ${r.stdout}${r.stderr}`).toBe('SIGKILL');
      const s = await status();
      expect(['1.0.0', '1.1.0']).toContain(s.running?.version);
      await expectWhole(s.running!.version);
    },
    300_000,
  );
});
