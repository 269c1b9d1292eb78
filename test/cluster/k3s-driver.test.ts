// The k3s driver's manifests, deletes, readiness, hook Jobs and snapshots. No k3s runs here, so
// kubectl and systemctl are answered by a scripted API server that behaves like k3s for the calls
// the driver makes (its deploy controller applies the folder's files a moment later; the objects are
// the realistic fixtures). Files, SQLite and `cp -a` are real. The opt-in suite test/e2e/k3s runs
// the same driver against a real k3s.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createClusterDriver, defaultExec, type ExecFn, MANIFESTS_DIR } from '../../updater/cluster/index.ts';
import { demoManifests } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'k3sdrv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fixture = (n: string) => readFileSync(join(import.meta.dirname, 'fixtures', `${n}.json`), 'utf8');

function fakeK3s(root: string, opts: { workloads?: string; jobs?: string; lag?: number } = {}) {
  const calls: string[] = [];
  let addonPolls = 0;
  const ok = (stdout: string) => Promise.resolve({ code: 0, stdout, stderr: '' });
  const exec: ExecFn = (cmd, args, o) => {
    const line = [cmd, ...args].join(' ');
    calls.push(line);
    if (cmd === 'cp') return defaultExec(cmd, args, o);
    if (cmd === 'systemctl') return ok('');
    if (line === 'k3s --version') return ok('k3s version v1.31.4+k3s1 (a562d090)\ngo version go1.22.9\n');
    if (line.endsWith('get --raw /readyz')) return ok('ok');
    if (line.startsWith('k3s etcd-snapshot save')) {
      // k3s names the file <name>-<node>-<timestamp>
      writeFileSync(join(args[args.indexOf('--dir') + 1]!, 'drydock-appliance-1795238400'), 'etcd snapshot');
      return ok('');
    }
    if (line.startsWith('k3s server --cluster-reset')) return ok('');
    if (line.includes('get addons.k3s.cattle.io')) {
      // k3s's deploy controller: one Addon per file, checksum = sha256 of the file, a few polls late
      addonPolls++;
      const dir = join(root, MANIFESTS_DIR);
      const items = readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => ({
          apiVersion: 'k3s.cattle.io/v1',
          kind: 'Addon',
          // k3s names the Addon after the file name up to its first dot
          metadata: { name: f.split('.')[0], namespace: 'kube-system' },
          spec: {
            source: `/var/lib/rancher/k3s/server/manifests/${f}`,
            checksum:
              addonPolls > (opts.lag ?? 1)
                ? createHash('sha256')
                    .update(readFileSync(join(dir, f)))
                    .digest('hex')
                : 'stale',
          },
        }));
      return ok(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    }
    if (line.includes('get deploy,statefulset,daemonset,job,pods,replicasets'))
      return ok(opts.workloads ?? '{"items":[]}');
    if (line.includes('get job,pods')) return ok(opts.jobs ?? '{"items":[]}');
    if (line.includes('get pvc data -n demo'))
      return ok(JSON.stringify({ spec: { volumeName: 'pvc-1234' } }));
    if (line.includes('get pv pvc-1234'))
      return ok(
        JSON.stringify({ spec: { hostPath: { path: '/var/lib/rancher/k3s/storage/pvc-1234_demo_data' } } }),
      );
    if (line.includes(' delete ') || line.includes(' apply ')) return ok('');
    return Promise.resolve({ code: 1, stdout: '', stderr: `unexpected call: ${line}` });
  };
  return { exec, calls, addonPolls: () => addonPolls };
}

const release = (version: string) => ({ name: 'drydock-demo', version });

describe('k3s driver: manifests', () => {
  it('writes drydock-<part>.yaml, removes other releases files, waits for k3s, deletes dropped objects', async () => {
    const root = join(tmp, 'apply');
    const dir = join(root, MANIFESTS_DIR);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'drydock-old-part.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n',
    );
    writeFileSync(join(dir, 'traefik.yaml'), 'k3s own file, not ours');
    const k = fakeK3s(root, { lag: 2 });
    const driver = createClusterDriver('k3s', { root, exec: k.exec, sleep: async () => {} });
    const previous = [
      ...(await demoManifests('1.0.0')),
      {
        name: 'extra.yaml',
        content:
          'apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: demo}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: worker, namespace: legacy}\n',
      },
    ];
    await driver.applyManifests(release('1.1.0'), await demoManifests('1.1.0'), previous);
    expect(readdirSync(dir).sort()).toEqual(['drydock-web.yaml', 'traefik.yaml']);
    expect(readFileSync(join(dir, 'drydock-web.yaml'), 'utf8')).toContain('web:1.1.0');
    expect(k.addonPolls()).toBe(3);
    const deletes = k.calls.filter((c) => c.includes(' delete '));
    expect(deletes).toEqual([
      'k3s kubectl delete --ignore-not-found --wait=false -n demo configmap/settings',
      'k3s kubectl delete --ignore-not-found --wait=false -n legacy deployment.apps/worker',
      'k3s kubectl delete --ignore-not-found --wait=false namespace/legacy',
    ]);
  });

  it('a broken manifest is refused before the folder changes', async () => {
    const root = join(tmp, 'broken');
    const k = fakeK3s(root);
    const driver = createClusterDriver('k3s', { root, exec: k.exec, sleep: async () => {} });
    await driver.applyManifests(release('1.0.0'), await demoManifests('1.0.0'), null);
    const before = readFileSync(join(root, MANIFESTS_DIR, 'drydock-web.yaml'), 'utf8');
    for (const content of ['kind: [unclosed', 'apiVersion: v1\nkind: ConfigMap\n', '- just\n- a list\n'])
      await expect(
        driver.applyManifests(
          release('1.1.0'),
          [{ name: 'web.yaml', content }],
          await demoManifests('1.0.0'),
        ),
      ).rejects.toMatchObject({ code: 'BUNDLE_RELEASE_INVALID' });
    await expect(
      driver.applyManifests(release('1.1.0'), [{ name: '../escape.yaml', content: 'a: 1' }], null),
    ).rejects.toMatchObject({ code: 'BUNDLE_RELEASE_INVALID' });
    expect(readdirSync(join(root, MANIFESTS_DIR))).toEqual(['drydock-web.yaml']);
    expect(readFileSync(join(root, MANIFESTS_DIR, 'drydock-web.yaml'), 'utf8')).toBe(before);
    expect(k.calls.filter((c) => c.includes(' delete '))).toEqual([]);
  });

  it('names parts as k3s does: app.v2.yaml is addon drydock-app; two parts sharing that name are refused', async () => {
    const root = join(tmp, 'dots');
    const k = fakeK3s(root);
    const driver = createClusterDriver('k3s', { root, exec: k.exec, sleep: async () => {} });
    const cm = (n: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${n}, namespace: demo}\n`;
    await driver.applyManifests(release('1.0.0'), [{ name: 'app.v2.yaml', content: cm('a') }], null);
    expect(readdirSync(join(root, MANIFESTS_DIR))).toEqual(['drydock-app.v2.yaml']);
    await expect(
      driver.applyManifests(
        release('1.1.0'),
        [
          { name: 'web.yaml', content: cm('b') },
          { name: 'web.extra.yaml', content: cm('c') },
        ],
        null,
      ),
    ).rejects.toThrow(/would share the k3s addon name drydock-web/);
    expect(readdirSync(join(root, MANIFESTS_DIR))).toEqual(['drydock-app.v2.yaml']);
  });

  it('gives up with CLUSTER_UNAVAILABLE when k3s never applies the file', async () => {
    const root = join(tmp, 'stuck');
    const k = fakeK3s(root, { lag: 1e9 });
    let t = 0;
    const driver = createClusterDriver('k3s', {
      root,
      exec: k.exec,
      now: () => t,
      sleep: async (ms) => {
        t += ms;
      },
      applyTimeoutSeconds: 5,
    });
    await expect(
      driver.applyManifests(release('1.0.0'), await demoManifests('1.0.0'), null),
    ).rejects.toMatchObject({
      code: 'CLUSTER_UNAVAILABLE',
    });
  });
});

describe('k3s driver: readiness, hooks, version', () => {
  it('reads workloads with kubectl get -o json and explains a crash loop', async () => {
    const root = join(tmp, 'ready');
    const k = fakeK3s(root, { workloads: fixture('deploy-crashloop-old-rs-serving') });
    const driver = createClusterDriver('k3s', { root, exec: k.exec });
    const [h] = await driver.workloads([{ kind: 'Deployment', namespace: 'demo', name: 'web' }]);
    expect(h!.ready).toBe(false);
    expect(h!.message).toContain('container web CrashLoopBackOff (exit 1, 4 restarts)');
    expect(k.calls).toContain(
      'k3s kubectl get deploy,statefulset,daemonset,job,pods,replicasets -n demo -o json',
    );
    expect(await driver.ping()).toEqual({ ok: true, message: 'k3s API ready', k3sVersion: 'v1.31.4+k3s1' });
  });

  it('an API server that does not answer reads as not ready, with the reason', async () => {
    const root = join(tmp, 'down');
    const exec: ExecFn = async () => ({
      code: 1,
      stdout: '',
      stderr: 'The connection to the server 127.0.0.1:6443 was refused',
    });
    const driver = createClusterDriver('k3s', { root, exec });
    expect(await driver.workloads([{ kind: 'Deployment', namespace: 'demo', name: 'web' }])).toEqual([
      {
        kind: 'Deployment',
        namespace: 'demo',
        name: 'web',
        ready: false,
        message:
          'cluster not answering: reading namespace demo failed: The connection to the server 127.0.0.1:6443 was refused',
      },
    ]);
    expect((await driver.ping()).ok).toBe(false);
  });

  it('runs a hook Job: apply, watch, report the failure, delete it', async () => {
    const root = join(tmp, 'job');
    const k = fakeK3s(root, { jobs: fixture('jobs-statefulset-daemonset') });
    const driver = createClusterDriver('k3s', { root, exec: k.exec, sleep: async () => {} });
    const job = {
      name: 'migrate.yaml',
      content:
        'apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, namespace: demo}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: migrate, image: demo.local/drydock-demo/web:1.1.0}]\n',
    };
    const r = await driver.runJob(job, 30);
    expect(r.ok).toBe(false);
    expect(r.message).toContain('BackoffLimitExceeded');
    expect(r.message).toContain('container migrate Error (exit 2)');
    const seq = k.calls
      .filter((c) => /delete job|apply -f/.test(c))
      .map((c) => c.split(' ').slice(2, 4).join(' '));
    expect(seq).toEqual(['delete job', 'apply -f', 'delete job']);
  });
});

describe('k3s driver: snapshot and restore (SQLite datastore + local-path volumes)', () => {
  it('copies state.db online and the claim folder; restore puts both back with k3s stopped', async () => {
    const root = join(tmp, 'snap');
    const dbDir = join(root, 'var/lib/rancher/k3s/server/db');
    const vol = join(root, 'var/lib/rancher/k3s/storage/pvc-1234_demo_data');
    mkdirSync(dbDir, { recursive: true });
    mkdirSync(vol, { recursive: true });
    const db = new Database(join(dbDir, 'state.db'));
    db.pragma('journal_mode = WAL');
    db.exec("CREATE TABLE kine (name TEXT, value TEXT); INSERT INTO kine VALUES ('/registry/a', 'v1')");
    writeFileSync(join(vol, 'data.txt'), 'before');
    const k = fakeK3s(root);
    const driver = createClusterDriver('k3s', { root, exec: k.exec, sleep: async () => {} });
    const snap = join(tmp, 'snapshot-1');
    await driver.snapshot(snap, [{ namespace: 'demo', claim: 'data' }]);
    // the update changes both
    db.exec("UPDATE kine SET value = 'v2'");
    db.close();
    writeFileSync(join(vol, 'data.txt'), 'after');
    writeFileSync(join(vol, 'new.txt'), 'x');
    expect(k.calls.filter((c) => c.startsWith('systemctl'))).toEqual([]);

    await driver.restore(snap, [{ namespace: 'demo', claim: 'data' }]);
    const back = new Database(join(dbDir, 'state.db'), { readonly: true });
    expect(back.prepare('SELECT value FROM kine').get()).toEqual({ value: 'v1' });
    back.close();
    expect(readdirSync(vol)).toEqual(['data.txt']);
    expect(readFileSync(join(vol, 'data.txt'), 'utf8')).toBe('before');
    expect(k.calls.filter((c) => c.startsWith('systemctl'))).toEqual([
      'systemctl stop k3s',
      'systemctl start k3s',
    ]);
  });

  it('with embedded etcd: k3s etcd-snapshot save, restored by --cluster-reset with k3s stopped', async () => {
    const root = join(tmp, 'etcd');
    mkdirSync(join(root, 'var/lib/rancher/k3s/server/db/etcd'), { recursive: true });
    const k = fakeK3s(root);
    const driver = createClusterDriver('k3s', { root, exec: k.exec, sleep: async () => {} });
    const snap = join(tmp, 'snapshot-etcd');
    await driver.snapshot(snap, []);
    await driver.restore(snap, []);
    expect(k.calls.filter((c) => /^(systemctl|k3s (etcd|server))/.test(c))).toEqual([
      `k3s etcd-snapshot save --dir ${snap} --name drydock`,
      'systemctl stop k3s',
      `k3s server --cluster-reset --cluster-reset-restore-path=${join(snap, 'drydock-appliance-1795238400')}`,
      'systemctl start k3s',
    ]);
  });

  it('refuses a folder that holds no snapshot, without stopping k3s', async () => {
    const root = join(tmp, 'nosnap');
    const k = fakeK3s(root);
    const driver = createClusterDriver('k3s', { root, exec: k.exec });
    mkdirSync(join(tmp, 'empty'), { recursive: true });
    await expect(driver.restore(join(tmp, 'empty'), [])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(k.calls).toEqual([]);
  });
});
