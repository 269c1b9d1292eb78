import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClusterDriver, MANIFESTS_DIR, type StandinDriver } from '../../updater/cluster/index.ts';
import { alive, demoImage, demoManifests, openStore, until } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'standin-'));
const drivers: StandinDriver[] = [];
afterAll(async () => {
  // a killed container's supervisor may still write its exit status for a moment: rm retries
  for (const d of drivers) await d.shutdown();
  rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

const web = [{ kind: 'Deployment' as const, namespace: 'demo', name: 'web' }];
const page = (v: string) => ({
  name: 'page',
  url: 'http://127.0.0.1:30080/',
  expectStatus: 200,
  expectBody: v,
  timeoutSeconds: 2,
});
const release = (version: string) => ({ name: 'drydock-demo', version });

function box(name: string): { root: string; driver: StandinDriver } {
  const root = join(tmp, name);
  const driver = createClusterDriver('standin', { root });
  drivers.push(driver);
  return { root, driver };
}

describe('stand-in cluster with the demo releases', () => {
  const { root, driver } = box('main');
  const storeP = openStore(join(root, 'var/lib/drydock/blobs'));

  it('installs 1.0.0: image imported once, becomes ready, page served', async () => {
    const store = await storeP;
    const img = await demoImage(store, 'web-1.0.0', 'demo.local/drydock-demo/web:1.0.0');
    expect(await driver.importImages([img], store)).toEqual({ imported: 1, skipped: 0 });
    expect(await driver.importImages([img], store)).toEqual({ imported: 0, skipped: 1 });
    // a restarted engine (a new driver on the same root) does not import it again
    expect(await createClusterDriver('standin', { root }).importImages([img], store)).toEqual({
      imported: 0,
      skipped: 1,
    });
    await driver.applyManifests(release('1.0.0'), await demoManifests('1.0.0'), null);
    expect(readdirSync(join(root, MANIFESTS_DIR))).toEqual(['drydock-web.yaml']);
    const r = await until(
      () => driver.workloads(web),
      (h) => h[0]!.ready,
      15000,
    );
    expect(r.value[0]).toMatchObject({ ready: true, message: '1/1 ready' });
    expect(await driver.probe(page('1.0.0'))).toMatchObject({ ok: true });
    const wrong = await driver.probe(page('1.1.0'));
    expect(wrong.ok).toBe(false);
    expect(wrong.message).toContain('does not contain "1.1.0"');
  });

  it('updates to 1.1.0: a new ReplicaSet takes over, the old pod stops', async () => {
    const store = await storeP;
    const img = await demoImage(store, 'web-1.1.0', 'demo.local/drydock-demo/web:1.1.0');
    await driver.importImages([img], store);
    await driver.applyManifests(release('1.1.0'), await demoManifests('1.1.0'), await demoManifests('1.0.0'));
    const r = await until(
      () => driver.workloads(web),
      (h) => h[0]!.ready,
      15000,
    );
    expect(r.value[0]!.ready).toBe(true);
    expect(await driver.probe(page('1.1.0'))).toMatchObject({ ok: true });
    const pods = (await driver.kubectlGet()).items.filter((o) => (o as { kind: string }).kind === 'Pod');
    expect(pods).toHaveLength(1);
  });

  it('publishes NodePort 30080 on a free host port for a browser', async () => {
    const pub = await driver.publish(30080);
    try {
      const res = await fetch(`http://127.0.0.1:${pub.port}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<strong id="version">1.1.0</strong>');
    } finally {
      await pub.close();
    }
    await expect(fetch(`http://127.0.0.1:${pub.port}/`)).rejects.toThrow();
  });

  it('1.2.0 never becomes ready: its container exits 1 (CrashLoopBackOff) and 1.1.0 keeps serving', async () => {
    const store = await storeP;
    const img = await demoImage(store, 'web-1.2.0', 'demo.local/drydock-demo/web:1.2.0');
    await driver.importImages([img], store);
    await driver.applyManifests(release('1.2.0'), await demoManifests('1.2.0'), await demoManifests('1.1.0'));
    const r = await until(
      () => driver.workloads(web),
      (h) => h[0]!.ready || h[0]!.message.includes('CrashLoopBackOff'),
      15000,
    );
    expect(r.value[0]!.ready).toBe(false);
    expect(r.value[0]!.message).toMatch(/^0\/1 ready.*container web CrashLoopBackOff \(exit 1/);
    expect(r.value[0]!.message).toContain('still serving 1');
    expect(await driver.probe(page('1.2.0'))).toMatchObject({ ok: false });
    expect(await driver.probe(page('1.1.0'))).toMatchObject({ ok: true });
    // the crash really happened in the container: its own words are in its log
    const logs = readdirSync(join(root, 'var/lib/drydock/standin/pods')).filter((d) => d.includes('web-'));
    const text = logs.map((d) => {
      try {
        return readFileSync(join(root, 'var/lib/drydock/standin/pods', d, 'web', 'log'), 'utf8');
      } catch {
        return '';
      }
    });
    expect(text.join('')).toContain('/etc/web/web.conf is missing');
  });

  it('rolling back to 1.1.0 reuses its ReplicaSet and is ready again', async () => {
    await driver.applyManifests(release('1.1.0'), await demoManifests('1.1.0'), await demoManifests('1.2.0'));
    const r = await until(
      () => driver.workloads(web),
      (h) => h[0]!.ready,
      15000,
    );
    expect(r.value[0]!.ready).toBe(true);
    expect(await driver.probe(page('1.1.0'))).toMatchObject({ ok: true });
  });

  it('a restarted engine finds the running containers; shutdown leaves no process', async () => {
    const state = JSON.parse(readFileSync(join(root, 'var/lib/drydock/standin/state.json'), 'utf8'));
    const pids = Object.values(state.pods as Record<string, { containers: { run: { pid: number } }[] }>).map(
      (p) => p.containers[0]!.run.pid,
    );
    expect(pids.length).toBe(1);
    const again = createClusterDriver('standin', { root });
    expect((await again.workloads(web))[0]!.ready).toBe(true);
    const state2 = JSON.parse(readFileSync(join(root, 'var/lib/drydock/standin/state.json'), 'utf8'));
    const pids2 = Object.values(
      state2.pods as Record<string, { containers: { run: { pid: number } }[] }>,
    ).map((p) => p.containers[0]!.run.pid);
    expect(pids2).toEqual(pids);
    await again.shutdown();
    expect(pids.every((p) => !alive(p))).toBe(true);
  });
});

describe('the stand-in judges releases by content, not by name', () => {
  it('the 1.2.0 image under the 1.1.0 name fails; the 1.1.0 image under the 1.2.0 name is ready', async () => {
    const a = box('swapped-a');
    const b = box('swapped-b');
    const storeA = await openStore(join(a.root, 'blobs'));
    const storeB = await openStore(join(b.root, 'blobs'));
    await a.driver.importImages(
      [await demoImage(storeA, 'web-1.2.0', 'demo.local/drydock-demo/web:1.1.0')],
      storeA,
    );
    await b.driver.importImages(
      [await demoImage(storeB, 'web-1.1.0', 'demo.local/drydock-demo/web:1.2.0')],
      storeB,
    );
    await a.driver.applyManifests(release('1.1.0'), await demoManifests('1.1.0'), null);
    await b.driver.applyManifests(release('1.2.0'), await demoManifests('1.2.0'), null);
    const ra = await until(
      () => a.driver.workloads(web),
      (h) => h[0]!.ready || h[0]!.message.includes('CrashLoopBackOff'),
      15000,
    );
    const rb = await until(
      () => b.driver.workloads(web),
      (h) => h[0]!.ready,
      15000,
    );
    expect(ra.value[0]!.ready).toBe(false);
    expect(ra.value[0]!.message).toContain('CrashLoopBackOff (exit 1');
    expect(rb.value[0]!.ready).toBe(true);
    // both boxes use NodePort 30080 at the same time without colliding
    expect(await b.driver.probe(page('1.1.0'))).toMatchObject({ ok: true });
  });

  it('an image that was never imported leaves the pod waiting (ErrImageNeverPull)', async () => {
    const c = box('no-image');
    await c.driver.applyManifests(release('1.0.0'), await demoManifests('1.0.0'), null);
    const [h] = await c.driver.workloads(web);
    expect(h!.ready).toBe(false);
    expect(h!.message).toContain('container web ErrImageNeverPull');
  });
});

describe('stand-in processes never outlive their box', () => {
  it('removing the box root stops its containers within about a second', async () => {
    const d = box('vanishing');
    const store = await openStore(join(d.root, 'blobs'));
    await d.driver.importImages(
      [await demoImage(store, 'web-1.0.0', 'demo.local/drydock-demo/web:1.0.0')],
      store,
    );
    await d.driver.applyManifests(release('1.0.0'), await demoManifests('1.0.0'), null);
    await until(
      () => d.driver.workloads(web),
      (h) => h[0]!.ready,
      15000,
    );
    const state = JSON.parse(readFileSync(join(d.root, 'var/lib/drydock/standin/state.json'), 'utf8'));
    const pid = (Object.values(state.pods)[0] as { containers: { run: { pid: number } }[] }).containers[0]!
      .run.pid;
    expect(alive(pid)).toBe(true);
    rmSync(d.root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    const r = await until(
      async () => alive(pid),
      (v) => !v,
      15000,
    );
    expect(r.value).toBe(false);
  });

  it('a container the datastore lost (engine killed before saving) is stopped on the next call', async () => {
    const d = box('orphan');
    const store = await openStore(join(d.root, 'blobs'));
    await d.driver.importImages(
      [await demoImage(store, 'web-1.0.0', 'demo.local/drydock-demo/web:1.0.0')],
      store,
    );
    await d.driver.applyManifests(release('1.0.0'), await demoManifests('1.0.0'), null);
    await until(
      () => d.driver.workloads(web),
      (h) => h[0]!.ready,
      15000,
    );
    const file = join(d.root, 'var/lib/drydock/standin/state.json');
    const state = JSON.parse(readFileSync(file, 'utf8'));
    const pid = (Object.values(state.pods)[0] as { containers: { run: { pid: number } }[] }).containers[0]!
      .run.pid;
    state.pods = {};
    writeFileSync(file, JSON.stringify(state));
    const again = createClusterDriver('standin', { root: d.root });
    const r = await until(
      () => again.workloads(web),
      (h) => h[0]!.ready,
      15000,
    );
    expect(r.value[0]!.ready).toBe(true);
    expect(
      (
        await until(
          async () => alive(pid),
          (v) => !v,
          5000,
        )
      ).value,
    ).toBe(false);
  });

  it('containers of a box nobody touches stop when the lease runs out, and come back on the next call', async () => {
    const root = join(tmp, 'lease');
    const d = createClusterDriver('standin', { root, leaseSeconds: 2 });
    drivers.push(d);
    const store = await openStore(join(root, 'blobs'));
    await d.importImages([await demoImage(store, 'web-1.1.0', 'demo.local/drydock-demo/web:1.1.0')], store);
    await d.applyManifests(release('1.1.0'), await demoManifests('1.1.0'), null);
    await until(
      () => d.workloads(web),
      (h) => h[0]!.ready,
      15000,
    );
    const file = join(root, 'var/lib/drydock/standin/state.json');
    const pidNow = () =>
      (
        Object.values(JSON.parse(readFileSync(file, 'utf8')).pods)[0] as {
          containers: { run: { pid: number } }[];
        }
      ).containers[0]!.run.pid;
    const pid = pidNow();
    // no driver call for a while: the watcher stops the container
    const gone = await until(
      async () => alive(pid),
      (v) => !v,
      15000,
    );
    expect(gone.value).toBe(false);
    // the next call starts it again at once: not a crash, no restart counted
    const back = await until(
      () => d.workloads(web),
      (h) => h[0]!.ready,
      15000,
    );
    expect(back.value[0]).toMatchObject({ ready: true, message: '1/1 ready' });
    expect(pidNow()).not.toBe(pid);
    const pod = (await d.kubectlGet()).items.find((o) => (o as { kind: string }).kind === 'Pod') as {
      status: { containerStatuses: { restartCount: number }[] };
    };
    expect(pod.status.containerStatuses[0]!.restartCount).toBe(0);
  });
});
