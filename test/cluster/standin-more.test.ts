import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClusterDriver, MANIFESTS_DIR, type StandinDriver } from '../../updater/cluster/index.ts';
import { demoImage, demoManifests, openStore, until } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'standin-more-'));
const root = join(tmp, 'box');
const driver: StandinDriver = createClusterDriver('standin', { root });
afterAll(async () => {
  // a killed container's supervisor may still write its exit status for a moment: rm retries
  await driver.shutdown();
  rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});
const IMAGE = 'demo.local/drydock-demo/web:1.1.0';
const release = (version: string) => ({ name: 'app', version });
const storeP = openStore(join(root, 'blobs')).then(async (s) => {
  await driver.importImages([await demoImage(s, 'web-1.1.0', IMAGE)], s);
  return s;
});

const job = (name: string, script: string, backoffLimit = 0) => ({
  name: `${name}.yaml`,
  content: `apiVersion: batch/v1
kind: Job
metadata: {name: ${name}, namespace: hooks}
spec:
  backoffLimit: ${backoffLimit}
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: ${name}
          image: ${IMAGE}
          command: ["/bin/sh", "-c", ${JSON.stringify(script)}]
`,
});

const writer = (tag: string) => ({
  name: 'app.yaml',
  content: `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: demo}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: demo}
data: {greeting: "hello ${tag}"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: writer, namespace: demo}
spec:
  selector: {matchLabels: {app: writer}}
  template:
    metadata: {labels: {app: writer}, annotations: {checksum/config: "${tag}"}}
    spec:
      containers:
        - name: writer
          image: ${IMAGE}
          command: ["/bin/sh", "-c", "echo \\"$GREETING\\" >> /data/state; cat /etc/settings/greeting > /data/mounted; exec /bin/busybox httpd -f -p 8080 -h /www"]
          env:
            - name: GREETING
              valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
          volumeMounts:
            - {name: data, mountPath: /data}
            - {name: settings, mountPath: /etc/settings}
          readinessProbe: {httpGet: {path: /, port: 8080}}
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: data}
        - name: settings
          configMap: {name: settings}
`,
});

const volumeFolder = () => {
  const base = join(root, 'var/lib/rancher/k3s/storage');
  const [d] = readdirSync(base).filter((x) => x.endsWith('_demo_data'));
  return join(base, d!);
};
const writerReady = () =>
  until(
    () => driver.workloads([{ kind: 'Deployment', namespace: 'demo', name: 'writer' }]),
    (h) => h[0]!.ready,
    15000,
  );

describe('stand-in: volumes, config, snapshots', () => {
  it('mounts the claim folder and the ConfigMap into the real container', async () => {
    await storeP;
    await driver.applyManifests(release('1'), [writer('v1')], null);
    expect((await writerReady()).value[0]!.ready).toBe(true);
    const vol = volumeFolder();
    expect(vol).toMatch(/pvc-[0-9a-f-]+_demo_data$/);
    expect(readFileSync(join(vol, 'state'), 'utf8')).toBe('hello v1\n');
    expect(readFileSync(join(vol, 'mounted'), 'utf8')).toBe('hello v1');
  });

  it('restores the datastore and the volume taken before an update', async () => {
    const snap = join(tmp, 'snap');
    // the writer is stopped for the copy and started again (so it writes its line once more)
    const taken = await driver.snapshot(snap, [{ namespace: 'demo', claim: 'data' }]);
    expect(taken.stopped).toEqual(['Deployment demo/writer']);
    expect(taken.downMs).toBeGreaterThan(0);
    expect(readFileSync(join(snap, 'volumes', 'demo_data', 'state'), 'utf8')).toBe('hello v1\n');
    expect((await writerReady()).value[0]!.ready).toBe(true);
    await driver.applyManifests(release('2'), [writer('v2')], [writer('v1')]);
    // a ConfigMap change alone rolls nothing out; the template annotation does (as with Helm)
    await until(
      async () => {
        await driver.workloads([{ kind: 'Deployment', namespace: 'demo', name: 'writer' }]);
        return readFileSync(join(volumeFolder(), 'state'), 'utf8');
      },
      (t) => t.includes('v2'),
      15000,
    );
    expect(readFileSync(join(volumeFolder(), 'state'), 'utf8')).toBe('hello v1\nhello v1\nhello v2\n');
    await driver.restore(snap, [{ namespace: 'demo', claim: 'data' }]);
    expect((await writerReady()).value[0]!.ready).toBe(true);
    // the container restarted from the restored state: v1 config, v1 data (+ its own new line)
    expect(readFileSync(join(volumeFolder(), 'state'), 'utf8')).toBe('hello v1\nhello v1\n');
  });

  it('a snapshot of a claim that does not exist is refused', async () => {
    await expect(
      driver.snapshot(join(tmp, 'snap-bad'), [{ namespace: 'demo', claim: 'nope' }]),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('objects the new release dropped are deleted, the claim folder with its claim', async () => {
    const vol = volumeFolder();
    await driver.applyManifests(release('3'), await demoManifests('1.1.0'), [writer('v1')]);
    expect(existsSync(vol)).toBe(false);
    const kinds = (await driver.kubectlGet()).items.map(
      (o) => (o as { metadata: { name: string } }).metadata.name,
    );
    expect(kinds.some((n) => n.startsWith('writer'))).toBe(false);
    expect(readdirSync(join(root, MANIFESTS_DIR))).toEqual(['drydock-web.yaml']);
  });

  it('as on a real cluster (ApplySet), objects the previous list does not name are pruned too', async () => {
    // a release applied and then interrupted left "writer" behind; `previous` does not know it
    await driver.applyManifests(release('4'), [...(await demoManifests('1.1.0')), writer('v1')], null);
    await driver.applyManifests(release('5'), await demoManifests('1.1.0'), await demoManifests('1.1.0'));
    const names = (await driver.kubectlGet()).items.map(
      (o) => (o as { metadata: { name: string } }).metadata.name,
    );
    expect(names.some((n) => n.startsWith('writer'))).toBe(false);
    expect(names).toContain('web');
  });
});

describe('stand-in: hook Jobs', () => {
  it('a Job that exits 0 completes', async () => {
    await storeP;
    expect(await driver.runJob(job('backup', 'echo backing up; exit 0'), 10)).toEqual({
      ok: true,
      message: 'job backup complete',
    });
  });

  it('a Job that exits 3 fails after its retries, with the exit code in the message', async () => {
    const r = await driver.runJob(job('migrate', 'exit 3', 1), 20);
    expect(r.ok).toBe(false);
    expect(r.message).toContain('BackoffLimitExceeded');
    expect(r.message).toContain('exited 3');
  });

  it('a Job that outlives its timeout is stopped and reported', async () => {
    const r = await driver.runJob(job('slow', 'sleep 30'), 1);
    expect(r).toEqual({ ok: false, message: 'job slow did not finish within 1 s' });
    const pods = (await driver.kubectlGet()).items.filter((o) => (o as { kind: string }).kind === 'Pod');
    expect(
      pods.map((p) => (p as { metadata: { name: string } }).metadata.name).some((n) => n.startsWith('slow')),
    ).toBe(false);
  });

  it('a hook that is not one Job is refused', async () => {
    await expect(
      driver.runJob({ name: 'x.yaml', content: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' }, 5),
    ).rejects.toMatchObject({
      code: 'BUNDLE_RELEASE_INVALID',
    });
  });
});

describe('stand-in: k3s version and bad input', () => {
  it('records an installed k3s version; ping reports it', async () => {
    const bin = join(tmp, 'k3s');
    writeFileSync(bin, 'binary');
    await driver.installK3s(bin, 'v1.31.4+k3s1');
    expect(await driver.ping()).toMatchObject({ ok: true, k3sVersion: 'v1.31.4+k3s1' });
    await expect(driver.installK3s(join(tmp, 'missing'), 'v1.32.0+k3s1')).rejects.toMatchObject({
      code: 'BLOB_MISSING',
    });
    expect((await driver.ping()).k3sVersion).toBe('v1.31.4+k3s1');
  });

  it('a broken manifest changes nothing', async () => {
    const before = readFileSync(join(root, MANIFESTS_DIR, 'drydock-web.yaml'), 'utf8');
    const state = readFileSync(join(root, 'var/lib/drydock/standin/state.json'), 'utf8');
    await expect(
      driver.applyManifests(
        release('4'),
        [{ name: 'web.yaml', content: 'kind: [' }],
        await demoManifests('1.1.0'),
      ),
    ).rejects.toMatchObject({ code: 'BUNDLE_RELEASE_INVALID' });
    expect(readFileSync(join(root, MANIFESTS_DIR, 'drydock-web.yaml'), 'utf8')).toBe(before);
    const after = JSON.parse(readFileSync(join(root, 'var/lib/drydock/standin/state.json'), 'utf8'));
    expect(Object.keys(after.objects)).toEqual(Object.keys(JSON.parse(state).objects));
  });

  it('createClusterDriver refuses an unknown kind or a missing root', () => {
    expect(() => createClusterDriver('docker' as 'k3s', { root })).toThrow(/unknown cluster kind/);
    expect(() => createClusterDriver('standin', { root: '' })).toThrow(/box root/);
  });
});

describe('stand-in: a lock left by a killed engine', () => {
  it('is taken over when its owner is dead or a zombie', async () => {
    const { spawn, spawnSync } = await import('node:child_process');
    const lock = join(root, 'var/lib/drydock/standin/lock');
    // a pid that no longer exists
    const gone = spawnSync('/bin/true').pid!;
    writeFileSync(lock, String(gone));
    expect((await driver.ping()).ok).toBe(true);
    expect(existsSync(lock)).toBe(false);
    // a zombie: its parent (sleep) never reaps it
    const holder = spawn('/bin/sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const zombie = Number.parseInt(
      await new Promise<string>((r) => holder.stdout!.once('data', (b) => r(String(b)))),
      10,
    );
    await until(
      async () => readFileSync(`/proc/${zombie}/stat`, 'utf8'),
      (s) => s.slice(s.lastIndexOf(')') + 2).startsWith('Z'),
      5000,
    );
    writeFileSync(lock, String(zombie));
    expect((await driver.ping()).ok).toBe(true);
    holder.kill();
  });
});
