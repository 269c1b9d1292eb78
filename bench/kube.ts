// Figures on a real Kubernetes (the kube-peer, docs/kube-peer.md), printed for docs/benchmarks.md:
//  1. apply + health gate of the demo 1.0.0 → 1.1.0 by the engine (the history's "apply" and
//     "health" steps) against `kubectl apply -f` + `kubectl rollout status` of the same manifests
//     (in a namespace of their own, run from this process tree): the ratio;
//  2. 1.2.0's health deadline passed → 1.1.0 serving again (the history's "rollback" step);
//  3. failed requests to the demo page during each successful update.
//   node --import tsx bench/kube.ts        (BENCH_RUNS=3 by default)
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildDemo } from '../examples/demo/index.ts';
import { initBox, openBox } from '../updater/engine/index.ts';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const REPO = join(import.meta.dirname, '..');
const SCRIPT = join(REPO, 'scripts/kube-peer.sh');
const ACTOR = { user: 'bench', from: 'local' };

const work = await mkdtemp(join(tmpdir(), 'drydock-bench-kube-'));
const peerDir = join(work, 'peer');
const kubeconfig = (
  await run(SCRIPT, ['up', '--dir', peerDir, '--api-port', '56443'], { maxBuffer: 1 << 24 })
).stdout.trim();
const kubectlBin = join((await run(SCRIPT, ['path'])).stdout.trim(), 'bin/kubectl');
const kubectl = (args: string[], input?: string) => {
  const p = run(kubectlBin, ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 1 << 24 });
  if (input !== undefined) p.child.stdin?.end(input);
  return p;
};

try {
  const demo = await buildDemo();
  const root = join(work, 'box');
  await initBox({
    root,
    trustPath: demo.rootPath,
    bundlePath: demo.bundles['1.0.0'],
    cluster: 'kubernetes',
    kubernetes: {
      kubeconfigFile: kubeconfig,
      kubectl: kubectlBin,
      containerdSocket: join(peerDir, 'containerd/containerd.sock'),
    },
  });
  // the baseline's copy of the same Deployment, in a namespace of its own, without the NodePort
  const manifest = async (v: string) =>
    (await readFile(join(REPO, 'examples/demo', v, 'manifests/web.yaml'), 'utf8'))
      .replaceAll('namespace: demo', 'namespace: baseline')
      .replace(/name: demo\n/, 'name: baseline\n')
      .replace('type: NodePort', 'type: ClusterIP')
      .replace(/\s+nodePort: 30080/, '');
  const baselineFile = join(work, 'baseline.yaml');
  const kubectlApply = async (v: string) => {
    await writeFile(baselineFile, await manifest(v));
    await kubectl(['apply', '-f', baselineFile]);
    await kubectl(['rollout', 'status', 'deployment/web', '-n', 'baseline', '--timeout=120s']);
  };
  // what the engine's gate also waits for: the service answering with the new version
  const serves = async (v: string) => {
    const ip = (await kubectl(['get', 'svc', 'web', '-n', 'baseline', '-o', 'jsonpath={.spec.clusterIP}']))
      .stdout;
    for (;;) {
      const body = await fetch(`http://${ip}/`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.text(),
        () => '',
      );
      if (body.includes(v)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await kubectlApply('1.0.0');

  const page = () =>
    fetch('http://127.0.0.1:30080/', { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.ok,
      () => false,
    );
  const rows: { drydockMs: number; kubectlMs: number; servesMs: number; failed: number; answered: number }[] =
    [];
  for (let i = 0; i < RUNS; i++) {
    // the engine: install 1.1.0 on a box running 1.0.0, requests counted throughout
    const box = await openBox({ root });
    let done = false;
    let failed = 0;
    let answered = 0;
    const load = (async () => {
      while (!done) {
        if (await page()) answered++;
        else failed++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const entry = await box.install(ACTOR, demo.bundles['1.1.0']);
    done = true;
    await load;
    if (entry.outcome !== 'committed') throw new Error(`1.1.0 did not commit: ${entry.reason}`);
    const drydockMs = (entry.steps.apply ?? 0) + (entry.steps.health ?? 0);
    const split = `apply ${entry.steps.apply} ms + health ${entry.steps.health} ms`;
    const back = await box.rollback(ACTOR);
    if (back.outcome !== 'rolled-back' && back.outcome !== 'committed')
      throw new Error(`rollback to 1.0.0: ${back.outcome} ${back.reason}`);
    await box.close();
    // the baseline: the same change by kubectl, from this process tree
    const t0 = performance.now();
    await kubectlApply('1.1.0');
    const kubectlMs = performance.now() - t0;
    await serves('1.1.0');
    const servesMs = performance.now() - t0;
    await kubectlApply('1.0.0');
    rows.push({ drydockMs, kubectlMs, servesMs, failed, answered });
    console.log(
      `run ${i + 1}: drydock apply+gate ${drydockMs.toFixed(0)} ms (${split}), kubectl apply+rollout status ${kubectlMs.toFixed(0)} ms (+ service answers 1.1.0: ${servesMs.toFixed(0)} ms), ratio ${(drydockMs / kubectlMs).toFixed(2)}; requests ${answered} answered, ${failed} failed`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // the two runs of a pair share the machine's moment: the ratio is taken per run, then the median
  const r1 = median(rows.map((r) => r.drydockMs / r.kubectlMs));
  const r2 = median(rows.map((r) => r.drydockMs / r.servesMs));
  console.log(
    `apply + health gate 1.0.0 → 1.1.0: drydock ${median(rows.map((r) => r.drydockMs)).toFixed(0)} ms, kubectl apply + rollout status ${median(rows.map((r) => r.kubectlMs)).toFixed(0)} ms: ratio ${r1.toFixed(2)} (median of ${RUNS} runs); against kubectl + the service answering with 1.1.0 (what the gate's probe also waits for, ${median(rows.map((r) => r.servesMs)).toFixed(0)} ms): ratio ${r2.toFixed(2)}`,
  );
  console.log(
    `failed requests during ${RUNS} updates: ${rows.reduce((a, r) => a + r.failed, 0)} of ${rows.reduce((a, r) => a + r.failed + r.answered, 0)}`,
  );

  // the deadline of 1.2.0 passes; the earlier release serves again
  const box = await openBox({ root });
  await box.install(ACTOR, demo.bundles['1.1.0']);
  const broken = await box.install(ACTOR, demo.bundles['1.2.0']);
  await box.close();
  console.log(
    `1.2.0 (deadline ${5} s): outcome ${broken.outcome}; health deadline passed → 1.1.0 healthy again in ${((broken.steps.rollback ?? Number.NaN) / 1000).toFixed(1)} s`,
  );
} finally {
  await run(SCRIPT, ['down', '--dir', peerDir]).catch((e) => console.error(String(e)));
  await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}
