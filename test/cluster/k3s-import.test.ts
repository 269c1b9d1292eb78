// The k3s driver's image import against REAL containerd from Debian: the test starts containerd
// with its root, state and socket in a temp folder, and the driver calls `ctr --address <sock>`
// where on the appliance it calls `k3s ctr`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterDriver, defaultExec, type ExecFn } from '../../updater/cluster/index.ts';
import { demoImage, openStore, startContainerd } from './helpers.ts';

// short path: a unix socket path must stay under 108 bytes
const tmp = mkdtempSync('/tmp/ctd-');
const sock = join(tmp, 'c.sock');

const ctr = (...args: string[]) =>
  execFileSync('ctr', ['--address', sock, '-n', 'k8s.io', ...args], { encoding: 'utf8' });

let containerd: { stop(): Promise<void> };

beforeAll(async () => {
  containerd = await startContainerd(tmp);
});

afterAll(async () => {
  await containerd?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('k3s driver: image import into real containerd', () => {
  it('imports a release image once; a second import and a restarted engine skip it', async () => {
    const root = join(tmp, 'box');
    const store = await openStore(join(root, 'var/lib/drydock/blobs'));
    const calls: string[][] = [];
    const exec: ExecFn = (cmd, args, o) => {
      calls.push([cmd, ...args]);
      return defaultExec(cmd, args, o);
    };
    const opts = { root, exec, ctr: ['ctr', '--address', sock] };
    const driver = createClusterDriver('k3s', opts);
    const v100 = await demoImage(store, 'web-1.0.0', 'demo.local/drydock-demo/web:1.0.0');
    const v110 = await demoImage(store, 'web-1.1.0', 'demo.local/drydock-demo/web:1.1.0');

    expect(await driver.importImages([v100], store)).toEqual({ imported: 1, skipped: 0 });
    const listed = ctr('images', 'ls');
    expect(listed).toContain('demo.local/drydock-demo/web:1.0.0');
    expect(listed).toContain(v100.manifest.digest);
    // containerd unpacked it: the image's layers are snapshots, ready for a container
    expect(ctr('images', 'check')).toMatch(/demo\.local\/drydock-demo\/web:1\.0\.0.*complete/);
    const imports = () => calls.filter((c) => c.includes('import')).length;
    expect(imports()).toBe(1);

    expect(await driver.importImages([v100], store)).toEqual({ imported: 0, skipped: 1 });
    expect(await createClusterDriver('k3s', opts).importImages([v100], store)).toEqual({
      imported: 0,
      skipped: 1,
    });
    expect(imports()).toBe(1);

    // containerd lost it (k3s's image garbage collection, an admin): imported again, not trusted to the record
    ctr('images', 'rm', 'demo.local/drydock-demo/web:1.0.0');
    expect(await driver.importImages([v100], store)).toEqual({ imported: 1, skipped: 0 });
    expect(ctr('images', 'ls', '-q').split('\n')).toContain('demo.local/drydock-demo/web:1.0.0');
    expect(imports()).toBe(2);

    // 1.1.0 shares the busybox layer; only the missing image is imported
    expect(await driver.importImages([v100, v110], store)).toEqual({ imported: 1, skipped: 1 });
    expect(imports()).toBe(3);
    expect(ctr('images', 'ls', '-q').split('\n')).toContain('demo.local/drydock-demo/web:1.1.0');
  });

  it('the imported images run under containerd + runc: 1.1.0 serves its page, 1.2.0 exits 1', async () => {
    const root = join(tmp, 'box-run');
    const store = await openStore(join(root, 'blobs'));
    const driver = createClusterDriver('k3s', { root, ctr: ['ctr', '--address', sock] });
    const v110 = await demoImage(store, 'web-1.1.0', 'demo.local/drydock-demo/web:1.1.0');
    const v120 = await demoImage(store, 'web-1.2.0', 'demo.local/drydock-demo/web:1.2.0');
    await driver.importImages([v110, v120], store);
    const run = (id: string, ref: string, ...cmd: string[]) => {
      try {
        return {
          code: 0,
          out: execFileSync('ctr', ['--address', sock, '-n', 'k8s.io', 'run', '--rm', ref, id, ...cmd], {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        };
      } catch (e) {
        const err = e as { status: number; stdout: string; stderr: string };
        return { code: err.status, out: `${err.stdout}${err.stderr}` };
      }
    };
    const page = run('page-110', 'demo.local/drydock-demo/web:1.1.0', '/bin/cat', '/www/index.html');
    expect(page.code).toBe(0);
    expect(page.out).toContain('<strong id="version">1.1.0</strong>');
    // the image's own entrypoint: 1.2.0 lacks its settings file and exits 1 under a real runtime too
    const broken = run('start-120', 'demo.local/drydock-demo/web:1.2.0');
    expect(broken.code).toBe(1);
    expect(broken.out).toContain('/etc/web/web.conf is missing');
  });

  it('a blob missing from the store is refused before anything is imported', async () => {
    const root = join(tmp, 'box2');
    const full = await openStore(join(tmp, 'full'));
    const img = await demoImage(full, 'web-1.2.0', 'demo.local/drydock-demo/never:1.2.0');
    const empty = await openStore(join(root, 'blobs'));
    const calls: string[][] = [];
    const driver = createClusterDriver('k3s', {
      root,
      ctr: ['ctr', '--address', sock],
      exec: (cmd, args, o) => {
        calls.push([cmd, ...args]);
        return defaultExec(cmd, args, o);
      },
    });
    await expect(driver.importImages([img], empty)).rejects.toMatchObject({ code: 'BLOB_MISSING' });
    expect(calls.filter((c) => c.includes('import'))).toEqual([]);
    expect(ctr('images', 'ls', '-q')).not.toContain('never:1.2.0');
  });
});
