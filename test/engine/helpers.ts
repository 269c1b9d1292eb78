// Shared by the engine tests: the demo fixture (examples/demo: real signed bundles built by
// updater/bundle), a fresh box root, the cluster driver under test, and a fingerprint of a box
// for "nothing changed".
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { buildDemo, type Demo } from '../../examples/demo/index.ts';
import { buildBundle } from '../../updater/bundle/index.ts';
import { type ClusterDriver, createClusterDriver, stopStandin } from '../../updater/cluster/index.ts';
import { type InitBoxOptions, initBox, openBox } from '../../updater/engine/index.ts';

let demoPromise: Promise<Demo> | null = null;
export function demo(): Promise<Demo> {
  demoPromise ??= buildDemo();
  return demoPromise;
}

export const ACTOR = { user: 'test', from: 'local' };

/** Fast polling; the stand-in's containers are real, so real time is used. */
export const TEST_CONFIG = { healthPollMs: 100, diskMarginBytes: 1024 * 1024 };

export interface TestBox {
  dir: string;
  root: string;
  driver: ClusterDriver;
  open(extra?: Partial<Parameters<typeof openBox>[0]>): ReturnType<typeof openBox>;
  cleanup(): Promise<void>;
}

export async function newBox(
  opts: { init?: boolean; config?: Record<string, unknown> } = {},
): Promise<TestBox> {
  const d = await demo();
  const dir = await mkdtemp(join(tmpdir(), 'drydock-engine-'));
  const root = join(dir, 'root');
  const driver = createClusterDriver('standin', { root });
  const box: TestBox = {
    dir,
    root,
    driver,
    open: (extra = {}) => openBox({ root, cluster: driver, ...extra }),
    async cleanup() {
      await stopStandin(root).catch(() => {});
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    },
  };
  if (opts.init !== false)
    await initBox({
      root,
      trustPath: d.rootPath,
      bundlePath: d.bundles['1.0.0'],
      cluster: 'standin',
      config: { ...TEST_CONFIG, ...(opts.config ?? {}) } as InitBoxOptions['config'],
    });
  return box;
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/** What must not change when input is refused: blobs, releases, snapshots, manifests, running release. */
export async function fingerprint(root: string): Promise<Record<string, unknown>> {
  const lib = join(root, 'var/lib/drydock');
  const manifestsDir = join(root, 'var/lib/rancher/k3s/server/manifests');
  const manifests: Record<string, string> = {};
  for (const f of await listTree(manifestsDir))
    manifests[f] = createHash('sha256')
      .update(await readFile(join(manifestsDir, f)))
      .digest('hex');
  const box = await openBox({ root, converge: false, cluster: createClusterDriver('standin', { root }) });
  const s = await box.status();
  await box.close();
  return {
    blobs: await listTree(join(lib, 'blobs/sha256')),
    releases: await listTree(join(lib, 'releases')),
    snapshots: await listTree(join(lib, 'snapshots')),
    manifests,
    running: s.running?.version ?? null,
    previous: s.previous?.version ?? null,
    state: s.state,
    root: await readFile(join(root, 'etc/drydock/root.json'), 'utf8').catch(() => null),
  };
}

/** The manifests folder holds exactly the manifests of `version` (as staged under releases/). */
export async function manifestsMatch(root: string, version: string): Promise<boolean> {
  const dir = join(root, 'var/lib/rancher/k3s/server/manifests');
  const rel = join(root, 'var/lib/drydock/releases', version, 'manifests');
  const have = (await listTree(dir)).filter((f) => f.startsWith('drydock-'));
  const want = await listTree(rel);
  if (want.length === 0 || have.length !== want.length) return false;
  for (const f of want) {
    const a = await readFile(join(dir, `drydock-${f}`), 'utf8').catch(() => null);
    if (a !== (await readFile(join(rel, f), 'utf8'))) return false;
  }
  return true;
}

/** A further demo release (same images as `base`), signed with the demo keys: for retention and k3s tests. */
export async function extraBundle(
  outDir: string,
  version: string,
  opts: {
    base?: '1.2.0' | '1.1.0' | '1.0.0';
    upgradeFrom?: string;
    k3s?: string;
    changesData?: boolean;
    /** the release's `data:` as given (overrides changesData) */
    data?: Record<string, unknown>;
  } = {},
): Promise<string> {
  const d = await demo();
  const base = opts.base ?? '1.1.0';
  const specDir = join(outDir, `spec-${version}`);
  await cp(join(d.dir, 'demo', base), specDir, { recursive: true });
  await cp(join(d.dir, 'demo', 'images'), join(outDir, 'images'), {
    recursive: true,
    force: false,
    errorOnExist: false,
  });
  const specPath = join(specDir, 'release.yaml');
  const spec = YAML.parse(await readFile(specPath, 'utf8'));
  spec.version = version;
  spec.upgradeFrom = opts.upgradeFrom ?? '>=1.0.0';
  if (opts.changesData) spec.data = { changesData: true, volumes: [] };
  if (opts.data) spec.data = opts.data;
  if (opts.k3s) {
    await writeFile(join(specDir, 'k3s'), `#!/bin/sh\necho ${opts.k3s}\n`);
    spec.k3s = { version: opts.k3s, binary: 'k3s' };
  }
  await writeFile(specPath, YAML.stringify(spec));
  const outPath = join(outDir, `drydock-demo-${version}.drydock`);
  await buildBundle({ specPath, keysDir: d.keysDir, outPath });
  return outPath;
}

/** Data offsets of the tar entries of a bundle (plain ustar: 512-byte headers, octal sizes). */
export async function bundleEntries(path: string): Promise<{ name: string; offset: number; size: number }[]> {
  const buf = await readFile(path);
  const out: { name: string; offset: number; size: number }[] = [];
  let at = 0;
  while (at + 512 <= buf.length && buf[at] !== 0) {
    const name = buf
      .subarray(at, at + 100)
      .toString('utf8')
      .replace(/\0.*$/s, '');
    const size = Number.parseInt(
      buf
        .subarray(at + 124, at + 136)
        .toString('utf8')
        .replace(/\0.*$/s, '')
        .trim(),
      8,
    );
    out.push({ name, offset: at + 512, size });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** A copy of `src` at `out` with one byte flipped in the middle of the (largest) entry `pick` chooses. */
export async function tamperedBundle(
  src: string,
  out: string,
  pick: (e: { name: string; size: number }) => boolean,
): Promise<string> {
  const entry = (await bundleEntries(src)).filter(pick).sort((a, b) => b.size - a.size)[0];
  if (!entry) throw new Error(`no such entry in ${src}`);
  await copyFile(src, out);
  const fh = await open(out, 'r+');
  const at = entry.offset + Math.floor(entry.size / 2);
  const buf = Buffer.alloc(1);
  await fh.read(buf, 0, 1, at);
  buf[0] = buf[0]! ^ 0x01;
  await fh.write(buf, 0, 1, at);
  await fh.close();
  return out;
}
