// The demo database image (examples/demo/postgres.ts) under real runtimes: Debian's containerd +
// runc (the test starts its own containerd in a temp folder with startContainerd, and the
// k3s driver imports the image), then the stand-in cluster with a PVC. Rows written before a stop
// are read back after a start on the same data folder.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemoLayout, POSTGRES_IMAGE, POSTGRES_TAG } from '../../examples/demo/index.ts';
import { buildPostgresImage, POSTGRES_UID } from '../../examples/demo/postgres.ts';
import { createClusterDriver, type StandinDriver } from '../../updater/cluster/index.ts';
import type { ImageRef } from '../../updater/release/index.ts';
import { demoImage, openStore, startContainerd, until } from './helpers.ts';

// short path: a unix socket path must stay under 108 bytes
const tmp = mkdtempSync('/tmp/ctdpg-');
const sock = join(tmp, 'c.sock');
let containerd: { stop(): Promise<void> };
let layoutDir: string;
let image: ImageRef;
const PASSWORD = 'demo password';
// Debian's own client on the host, for the stand-in (which has no exec into a pod)
const HOST_PSQL = '/usr/lib/postgresql/15/bin/psql';

const ctr = (...args: string[]) =>
  execFileSync('ctr', ['--address', sock, '-n', 'k8s.io', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
let execs = 0;
/** A command inside the running container; exit code and output, never a throw. */
const inContainer = (id: string, ...cmd: string[]) => {
  try {
    return { code: 0, out: ctr('tasks', 'exec', '--exec-id', `e${++execs}`, id, ...cmd) };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, out: `${err.stdout}${err.stderr}` };
  }
};
const sql = (id: string, query: string) => inContainer(id, 'psql', '-v', 'ON_ERROR_STOP=1', '-Atc', query);
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the image with `data` as the volume; resolves when pg_isready says yes, with the time it took. */
async function startPostgres(id: string, data: string, env: string[]): Promise<number> {
  const t0 = Date.now();
  ctr(
    'run',
    '-d',
    '--log-uri',
    `file://${join(tmp, `${id}.log`)}`,
    '--mount',
    `type=bind,src=${data},dst=/var/lib/postgresql/data,options=rbind:rw`,
    ...env.flatMap((e) => ['--env', e]),
    POSTGRES_IMAGE,
    id,
  );
  while (Date.now() - t0 < 30_000) {
    if (inContainer(id, 'pg_isready', '-h', '127.0.0.1', '-p', '5432', '-q').code === 0)
      return Date.now() - t0;
    await sleep(50);
  }
  throw new Error(`${id} not ready in 30 s:\n${readFileSync(join(tmp, `${id}.log`), 'utf8')}`);
}

/** SIGINT (the image's StopSignal: fast shutdown), waits for the exit, removes the container. */
async function stopPostgres(id: string): Promise<string> {
  ctr('tasks', 'kill', '-s', 'SIGINT', id);
  const t0 = Date.now();
  let line = '';
  while (Date.now() - t0 < 30_000) {
    line =
      ctr('tasks', 'ls')
        .split('\n')
        .find((l) => l.startsWith(`${id} `)) ?? '';
    if (!line.includes('RUNNING')) break;
    await sleep(50);
  }
  ctr('tasks', 'rm', id);
  ctr('containers', 'rm', id);
  return line;
}

beforeAll(async () => {
  layoutDir = (await buildDemoLayout({ postgres: true })).layoutDir;
  containerd = await startContainerd(tmp);
  const root = join(tmp, 'box');
  const store = await openStore(join(root, 'blobs'));
  image = await demoImage(store, POSTGRES_TAG, POSTGRES_IMAGE, layoutDir);
  const driver = createClusterDriver('k3s', { root, ctr: ['ctr', '--address', sock] });
  expect(await driver.importImages([image], store)).toEqual({ imported: 1, skipped: 0 });
}, 300_000);

afterAll(async () => {
  for (const id of ['pg-a', 'pg-b', 'pg-trust']) {
    try {
      ctr('tasks', 'kill', '-s', 'SIGKILL', id);
    } catch {}
    try {
      ctr('tasks', 'rm', '-f', id);
      ctr('containers', 'rm', id);
    } catch {}
  }
  await containerd?.stop();
  rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('demo postgres image: build', () => {
  it('the same Debian packages give the same digest; the layers hold the programs and no JIT', async () => {
    const again = await buildPostgresImage(join(tmp, 'rebuild'));
    expect(again.manifest.digest).toBe(image.manifest.digest);
    const manifest = JSON.parse(
      readFileSync(join(tmp, 'rebuild', 'blobs', 'sha256', again.manifest.digest.slice(7)), 'utf8'),
    ) as { layers: { digest: string }[] };
    expect(manifest.layers).toHaveLength(3);
    const listing = (d: { digest: string }) =>
      execFileSync('tar', ['-tzf', join(tmp, 'rebuild', 'blobs', 'sha256', d.digest.slice(7))], {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      }).split('\n');
    const [libs, pg, tools] = manifest.layers.map(listing) as [string[], string[], string[]];
    expect(libs).toContain('lib');
    expect(libs).toContain('usr/lib/x86_64-linux-gnu/libpq.so.5');
    expect(libs.some((f) => /^usr\/lib\/x86_64-linux-gnu\/ld-linux-x86-64\.so\.2$/.test(f))).toBe(true);
    expect(libs.some((f) => f.includes('libLLVM'))).toBe(false);
    for (const b of ['postgres', 'initdb', 'pg_ctl', 'psql', 'pg_isready'])
      expect(pg).toContain(`usr/lib/postgresql/15/bin/${b}`);
    expect(pg).toContain('usr/share/postgresql/15/postgres.bki');
    expect(pg).not.toContain('usr/lib/postgresql/15/lib/llvmjit.so');
    expect(tools).toContain('usr/local/bin/start-postgres');
    expect(tools).toContain('bin/su');
  }, 120_000);
});

describe('demo postgres image under containerd + runc', () => {
  const data = join(tmp, 'data');

  it('initdb on an empty volume, rows written, stopped, started again on the same folder: rows back', async () => {
    mkdirSync(data);
    const firstReady = await startPostgres('pg-a', data, [`POSTGRES_PASSWORD=${PASSWORD}`]);
    // initdb ran inside, as the postgres user, into a folder below the mount point
    expect(readFileSync(join(data, 'pgdata', 'PG_VERSION'), 'utf8')).toBe('15\n');
    expect(statSync(join(data, 'pgdata')).uid).toBe(POSTGRES_UID);
    expect(inContainer('pg-a', 'ps').out).toMatch(/1 postgres .*postgres -c listen_addresses=\*/);
    expect(
      sql(
        'pg-a',
        "create table items(id int primary key, name text); insert into items select g, 'item ' || g from generate_series(1, 100) g",
      ).code,
    ).toBe(0);
    const before = sql(
      'pg-a',
      "select count(*), md5(string_agg(id || ':' || name, ',' order by id)) from items",
    );
    expect(before.out.trim()).toMatch(/^100\|[0-9a-f]{32}$/);

    // over TCP the password is checked (scram), a wrong one is refused
    const tcp = (pw: string) =>
      inContainer('pg-a', 'env', `PGPASSWORD=${pw}`, 'psql', '-h', '127.0.0.1', '-Atc', 'select 42');
    expect(tcp(PASSWORD)).toEqual({ code: 0, out: '42\n' });
    const wrong = tcp('not it');
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toContain('password authentication failed for user "postgres"');
    expect(readFileSync(join(data, 'pgdata', 'pg_hba.conf'), 'utf8')).toMatch(
      /^host all all 0\.0\.0\.0\/0 scram-sha-256$/m,
    );

    const stopped = await stopPostgres('pg-a');
    expect(stopped).toContain('STOPPED');
    // a fast shutdown leaves a clean cluster: the next start needs no recovery
    expect(readFileSync(join(tmp, 'pg-a.log'), 'utf8')).toContain('database system is shut down');

    const againReady = await startPostgres('pg-b', data, []);
    const after = sql(
      'pg-b',
      "select count(*), md5(string_agg(id || ':' || name, ',' order by id)) from items",
    );
    expect(after).toEqual(before);
    const log = readFileSync(join(tmp, 'pg-b.log'), 'utf8');
    expect(log).not.toContain('Success. You can now start the database server');
    expect(log).toContain('database system is ready to accept connections');
    console.info(`postgres start-to-ready: first start (initdb) ${firstReady} ms, restart ${againReady} ms`);
    await stopPostgres('pg-b');
  }, 120_000);

  it('without POSTGRES_PASSWORD: trust on 127.0.0.1 and the pod network only, and it says so', async () => {
    const d = join(tmp, 'data-trust');
    mkdirSync(d);
    await startPostgres('pg-trust', d, []);
    expect(readFileSync(join(tmp, 'pg-trust.log'), 'utf8')).toContain('POSTGRES_PASSWORD is not set');
    const hba = readFileSync(join(d, 'pgdata', 'pg_hba.conf'), 'utf8')
      .split('\n')
      .filter((l) => /^host\s/.test(l) && !/replication/.test(l));
    expect(hba.map((l) => l.split(/\s+/).slice(3).join(' '))).toEqual([
      '127.0.0.1/32 trust',
      '::1/128 trust',
      '10.42.0.0/16 trust',
    ]);
    expect(inContainer('pg-trust', 'psql', '-h', '127.0.0.1', '-Atc', 'select 1')).toEqual({
      code: 0,
      out: '1\n',
    });
    await stopPostgres('pg-trust');
  }, 60_000);
});

describe('demo postgres image in the stand-in cluster', () => {
  const root = join(tmp, 'standin');
  let driver: StandinDriver;
  afterAll(async () => {
    await driver?.shutdown();
  });
  const manifest = {
    name: 'db.yaml',
    content: `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: db, namespace: demo}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 64Mi}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: demo}
spec:
  strategy: {type: Recreate}
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: postgres
          image: ${POSTGRES_IMAGE}
          imagePullPolicy: Never
          env:
            - {name: POSTGRES_PASSWORD, value: "${PASSWORD}"}
          ports: [{name: pg, containerPort: 5432}]
          readinessProbe: {tcpSocket: {port: pg}}
          volumeMounts:
            - {name: data, mountPath: /var/lib/postgresql/data}
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: db}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: demo}
spec:
  type: NodePort
  selector: {app: db}
  ports: [{port: 5432, targetPort: 5432, nodePort: 30432}]
`,
  };
  const ready = () =>
    until(
      () => driver.workloads([{ kind: 'Deployment', namespace: 'demo', name: 'db' }]),
      (h) => h[0]!.ready,
      60_000,
    );

  it('runs as a Deployment with a PVC; the rows survive the node powering off and on', async () => {
    driver = createClusterDriver('standin', { root });
    const store = await openStore(join(root, 'blobs'));
    await driver.importImages([await demoImage(store, POSTGRES_TAG, POSTGRES_IMAGE, layoutDir)], store);
    await driver.applyManifests({ name: 'db', version: '1' }, [manifest], null);
    const first = await ready();
    expect(first.value[0]!.ready).toBe(true);
    const published = await driver.publish(30432);
    // asynchronous: the published port is served by this process's event loop
    const psql = async (query: string) =>
      (
        await run(
          HOST_PSQL,
          [
            '-h',
            '127.0.0.1',
            '-p',
            String(published.port),
            '-U',
            'postgres',
            '-v',
            'ON_ERROR_STOP=1',
            '-Atc',
            query,
          ],
          { encoding: 'utf8', env: { ...process.env, PGPASSWORD: PASSWORD, PGCONNECT_TIMEOUT: '5' } },
        )
      ).stdout;
    // tcpSocket readiness is "the port accepts": the server may still be finishing its start
    const answers = () =>
      expect.poll(() => psql('select 1').catch((e: Error) => e.message), { timeout: 30_000 }).toBe('1\n');
    try {
      await answers();
      await psql(
        "create table items(id int primary key, name text); insert into items select g, 'item ' || g from generate_series(1, 50) g",
      );
      const before = await psql(
        "select count(*), md5(string_agg(id || ':' || name, ',' order by id)) from items",
      );
      expect(before.trim()).toMatch(/^50\|[0-9a-f]{32}$/);
      // the claim folder holds the cluster initdb made
      const storage = join(root, 'var/lib/rancher/k3s/storage');
      const [vol] = readdirSync(storage).filter((x) => x.endsWith('_demo_db'));
      expect(readFileSync(join(storage, vol!, 'pgdata', 'PG_VERSION'), 'utf8')).toBe('15\n');

      // the stand-in kills its containers (no clean shutdown): postgres recovers from its WAL
      await driver.shutdown();
      const second = await ready();
      expect(second.value[0]!.ready).toBe(true);
      await answers();
      expect(
        await psql("select count(*), md5(string_agg(id || ':' || name, ',' order by id)) from items"),
      ).toBe(before);
      console.info(`stand-in: ready ${first.ms} ms after apply (initdb), ${second.ms} ms after power-on`);
    } finally {
      await published.close();
    }
  }, 180_000);
});
