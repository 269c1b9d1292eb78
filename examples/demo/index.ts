// The demo fixture every later test uses: the demo images (from Debian's busybox-static), a demo
// key set, the three signed bundles and the 1.0.0→1.1.0 delta. Built once per content hash and
// cached; a file lock makes parallel vitest workers wait for the one that builds.
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundle } from '../../updater/bundle/index.ts';
import { type ImageSpec, writeLayout } from '../../updater/oci/index.ts';
import { initKeys } from '../../updater/tuf/index.ts';
import { buildDemoImages, DEFAULT_BUSYBOX, DEMO_VERSIONS, type DemoVersion, readBusybox } from './images.ts';
import { withFileLock } from './lock.ts';
import { postgresImageSpec } from './postgres.ts';

export { buildDemoImages, type DemoVersion } from './images.ts';
export { POSTGRES_IMAGE, POSTGRES_TAG } from './postgres.ts';

export const DEMO_DIR = dirname(fileURLToPath(import.meta.url));
const REPO = join(DEMO_DIR, '..', '..');
export const DEMO_NAME = 'drydock-demo';

export interface Demo {
  /** the demo key set (drydock keys init) */
  keysDir: string;
  /** its root.json: what a demo box trusts */
  rootPath: string;
  /** full signed bundles */
  bundles: Record<DemoVersion, string>;
  /** delta bundles: '1.1.0' leaves out the blobs 1.0.0 already has */
  deltas: { '1.1.0': string };
  /** the release specs (copies inside the cache, next to their built images) */
  specs: Record<DemoVersion, string>;
  /** the OCI image layout holding web-1.0.0, web-1.1.0, web-1.2.0 (and postgres-15 with `postgres: true`) */
  layoutDir: string;
  /** the cache folder of this build */
  dir: string;
}

// what the built bundles depend on: the demo sources, busybox, and the code that signs and packs
// per user: a cache written by root is not writable by another user (and not to be trusted by one)
const defaultCache = () => join(tmpdir(), `drydock-demo-cache-${process.getuid?.() ?? 'user'}`);

const HASHED = ['examples/demo', 'updater/bundle', 'updater/tuf', 'updater/release', 'updater/oci'];

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'images' || d !== DEMO_DIR) await walk(p);
      } else if (e.isFile()) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

async function contentHash(busybox: Buffer, postgres: string | undefined): Promise<string> {
  const h = createHash('sha256');
  h.update(busybox);
  // the bytes of the postgres image's files (Debian's postgresql-15 and the libraries it loads)
  if (postgres) h.update(`postgres ${postgres}`);
  for (const d of HASHED)
    for (const f of await listFiles(join(REPO, d))) {
      h.update(relative(REPO, f));
      h.update(await readFile(f));
    }
  return h.digest('hex').slice(0, 16);
}

function result(dir: string): Demo {
  const bundles = {} as Record<DemoVersion, string>;
  const specs = {} as Record<DemoVersion, string>;
  for (const v of DEMO_VERSIONS) {
    bundles[v] = join(dir, 'bundles', `${DEMO_NAME}-${v}.drydock`);
    specs[v] = join(dir, 'demo', v, 'release.yaml');
  }
  return {
    keysDir: join(dir, 'keys'),
    rootPath: join(dir, 'keys', 'root.json'),
    bundles,
    deltas: { '1.1.0': join(dir, 'bundles', `${DEMO_NAME}-1.1.0-from-1.0.0.drydock`) },
    specs,
    layoutDir: join(dir, 'demo', 'images', 'oci'),
    dir,
  };
}

interface DemoOptions {
  cacheDir?: string;
  busybox?: string;
  /**
   * also build demo.local/drydock-demo/postgres:15 (tag postgres-15) into the layout, from this
   * machine's postgresql-15 (examples/demo/postgres.ts); no release spec uses it yet
   */
  postgres?: boolean;
}

// read before the cache is looked up: the image's bytes are part of the cache key
const postgresInput = async (opts: DemoOptions): Promise<{ spec: ImageSpec; sha256: string } | undefined> =>
  opts.postgres ? postgresImageSpec() : undefined;

/** Builds the demo images only (no keys, no bundles), cached like buildDemo. */
export async function buildDemoLayout(opts: DemoOptions = {}): Promise<{
  layoutDir: string;
  specs: Record<DemoVersion, string>;
}> {
  const busybox = await readBusybox(opts.busybox ?? DEFAULT_BUSYBOX);
  const pg = await postgresInput(opts);
  const cache = opts.cacheDir ?? defaultCache();
  const dir = join(cache, `layout-${await contentHash(busybox, pg?.sha256)}`);
  await mkdir(cache, { recursive: true });
  return withFileLock(`${dir}.lock`, async () => {
    if (!(await stat(join(dir, 'done')).catch(() => null))) {
      const tmp = `${dir}.tmp-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      await copySources(tmp);
      await buildDemoImages(join(tmp, 'images', 'oci'), opts.busybox ?? DEFAULT_BUSYBOX);
      if (pg) await writeLayout(join(tmp, 'images', 'oci'), [pg.spec]);
      await writeFile(join(tmp, 'done'), new Date().toISOString());
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    }
    return {
      layoutDir: join(dir, 'images', 'oci'),
      specs: Object.fromEntries(DEMO_VERSIONS.map((v) => [v, join(dir, v, 'release.yaml')])) as Record<
        DemoVersion,
        string
      >,
    };
  });
}

async function copySources(into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  for (const v of DEMO_VERSIONS) await cp(join(DEMO_DIR, v), join(into, v), { recursive: true });
}

/**
 * The demo fixture (docs/demo.md). Cached under `cacheDir` (default: <tmp>/drydock-demo-cache-<uid>) by a hash
 * of its inputs; a second call, in this process or another, returns the same files at once.
 */
export async function buildDemo(opts: DemoOptions = {}): Promise<Demo> {
  const busybox = await readBusybox(opts.busybox ?? DEFAULT_BUSYBOX);
  const pg = await postgresInput(opts);
  const cache = opts.cacheDir ?? defaultCache();
  await mkdir(cache, { recursive: true });
  const dir = join(cache, `demo-${await contentHash(busybox, pg?.sha256)}`);
  return withFileLock(`${dir}.lock`, async () => {
    if (await stat(join(dir, 'done')).catch(() => null)) return result(dir);
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    const r = result(tmp);
    await copySources(join(tmp, 'demo'));
    await buildDemoImages(r.layoutDir, opts.busybox ?? DEFAULT_BUSYBOX);
    if (pg) await writeLayout(r.layoutDir, [pg.spec]);
    await initKeys({ dir: r.keysDir });
    await mkdir(join(tmp, 'bundles'), { recursive: true });
    for (const v of DEMO_VERSIONS)
      await buildBundle({ specPath: r.specs[v], keysDir: r.keysDir, outPath: r.bundles[v] });
    await buildBundle({
      specPath: r.specs['1.1.0'],
      keysDir: r.keysDir,
      outPath: r.deltas['1.1.0'],
      deltaFrom: r.bundles['1.0.0'],
    });
    await writeFile(join(tmp, 'done'), new Date().toISOString());
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return result(dir);
  });
}
