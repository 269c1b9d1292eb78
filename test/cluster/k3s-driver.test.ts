// The k3s driver's calls where only k3s answers them (its version, `k3s etcd-snapshot`, the k3s
// service) and its reading of kubectl's JSON (realistic fixtures). No k3s runs here, so those calls
// are answered by a script; files, SQLite and `cp -a` are real. Applying, pruning, images, hook Jobs
// and snapshot/restore with workloads running are proven on a real API server and kubelet in
// test/e2e/kube/k3s-driver.test.ts; the opt-in suite test/e2e/k3s runs the driver against k3s.
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

function fakeK3s(_root: string, opts: { workloads?: string; jobs?: string } = {}) {
  const calls: string[] = [];
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
    if (line.includes('get deploy,statefulset,daemonset,job,pods,replicasets'))
      return ok(opts.workloads ?? '{"items":[]}');
    if (line.includes('get job,pods')) return ok(opts.jobs ?? '{"items":[]}');
    if (line.includes('get pvc data -n demo'))
      return ok(JSON.stringify({ spec: { volumeName: 'pvc-1234' } }));
    if (line.includes('get pv pvc-1234'))
      return ok(
        JSON.stringify({ spec: { hostPath: { path: '/var/lib/rancher/k3s/storage/pvc-1234_demo_data' } } }),
      );
    // no workload mounts the claim in these scripts: nothing to stop
    if (line.includes('get deploy,statefulset -n demo') || line.includes('get pods --all-namespaces'))
      return ok('{"items":[]}');
    if (line.includes(' delete ') || line.includes(' apply ')) return ok('');
    return Promise.resolve({ code: 1, stdout: '', stderr: `unexpected call: ${line}` });
  };
  return { exec, calls };
}

const release = (version: string) => ({ name: 'drydock-demo', version });

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
      .filter((c) => /delete job|apply -f -/.test(c))
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
