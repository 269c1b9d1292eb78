// The payload folder that the Packer build uploads to /tmp/drydock-payload on the guest, and that
// appliance/provision/*.sh read ($DRYDOCK_PAYLOAD):
//   inputs.json            what is here and what the build left out (the provisioners branch on it)
//   drydock-app.tar.zst    Drydock itself (CLI, updater, first boot, web/dist) + production node_modules
//   release/release.drydock, release/root.json   the release `drydock box init` installs, its trust root
//   k3s/k3s, k3s/k3s-airgap-images-amd64.tar.zst  when provided
import { copyFile, link, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { loadBackendRenderer } from '../../appliance/index.ts';
import { DrydockError } from '../../core/index.ts';
import type { Exec } from '../exec.ts';
import type { ResolvedInputs } from './inputs.ts';

const APP_PATHS = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'bin',
  'core',
  'cli',
  'updater',
  'appliance',
  'images',
  'cloudformation',
  'examples',
  'web/dist',
];

export interface PayloadInputs {
  /** backend source module for appliance's renderer (default: the reference backend) */
  backendSource?: string;
  name: string;
  version: string;
  inputs: ResolvedInputs;
  release: { bundle: string; trustedRoot: string } | null;
  /** why there is no release, when there is none */
  releaseMissing?: string;
}

export interface InputsManifest {
  name: string;
  version: string;
  app: string;
  k3s: { version: string; binary: string | null; airgapImages: string | null };
  release: { bundle: string; trustedRoot: string } | null;
  omitted: string[];
}

/** Top-level packages the app needs at run time: package-lock.json marks dev-only ones "dev". */
export async function productionPackages(repo: string): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([k, v]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(k) && !v.dev)
    .map(([k]) => k)
    .sort();
}

async function place(src: string, dest: string): Promise<void> {
  try {
    await link(src, dest);
  } catch {
    await copyFile(src, dest);
  }
}

export async function stagePayload(
  exec: Exec,
  repo: string,
  dir: string,
  p: PayloadInputs,
): Promise<InputsManifest> {
  await mkdir(dir, { recursive: true });
  const present: string[] = [];
  for (const path of APP_PATHS) if (await stat(join(repo, path)).catch(() => null)) present.push(path);
  if (!present.includes('bin') || !present.includes('package.json'))
    throw new DrydockError(
      'BUILD_INPUT_MISSING',
      `${repo} is not a Drydock checkout (no bin/ or package.json)`,
    );
  const omitted = [...p.inputs.omitted];
  if (!present.includes('web/dist'))
    omitted.push('admin page: web/dist not built (run npm run build:web); the updater serves its API only');
  // optional platform packages (other OSes' esbuild, fsevents) are in the lock but not on disk
  // the box runs the precompiled CLI (bin/drydock.js takes dist/cli in an installation): built
  // fresh here so that it always matches the sources shipped beside it
  await exec(
    join(repo, 'node_modules', '.bin', 'esbuild'),
    [
      'cli/main.ts',
      '--bundle',
      '--splitting',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--outdir=dist/cli',
      '--packages=external',
      '--log-level=warning',
    ],
    { cwd: repo },
  );
  present.push('dist/cli');
  const modules: string[] = [];
  for (const m of await productionPackages(repo))
    if (await stat(join(repo, m)).catch(() => null)) modules.push(m);
  await exec('tar', [
    '--zstd',
    '-cf',
    join(dir, 'drydock-app.tar.zst'),
    '-C',
    repo,
    '--exclude=.cache',
    '--exclude=node_modules/.cache',
    '--exclude=*.ova',
    '--exclude=*.qcow2',
    '--exclude=*.raw',
    '--owner=0',
    '--group=0',
    ...present,
    ...modules,
  ]);
  const k3s = {
    version: p.inputs.k3sVersion,
    binary: null as string | null,
    airgapImages: null as string | null,
  };
  if (p.inputs.k3sBinary.path || p.inputs.k3sImages.path) await mkdir(join(dir, 'k3s'), { recursive: true });
  if (p.inputs.k3sBinary.path) {
    await place(p.inputs.k3sBinary.path, join(dir, 'k3s', 'k3s'));
    k3s.binary = 'k3s/k3s';
  }
  if (p.inputs.k3sImages.path) {
    const name = basename(p.inputs.k3sImages.path).includes('.tar')
      ? basename(p.inputs.k3sImages.path)
      : 'k3s-airgap-images-amd64.tar.zst';
    await place(p.inputs.k3sImages.path, join(dir, 'k3s', name));
    k3s.airgapImages = `k3s/${name}`;
  }
  // the rendered backend: first boot generates the per-box secrets it lists (appliance/provision)
  try {
    const R = await loadBackendRenderer();
    const source = await R.loadSource(p.backendSource);
    const { files } = await R.renderBoxFiles(source);
    await R.writeFiles(join(dir, 'backend'), files);
  } catch (err) {
    if (p.backendSource) throw err;
    omitted.push(
      `backend render: failed (${(err as Error).message.split('\n')[0]}); first boot generates no backend secrets`,
    );
  }
  let release: InputsManifest['release'] = null;
  if (p.release) {
    await mkdir(join(dir, 'release'), { recursive: true });
    await place(p.release.bundle, join(dir, 'release', 'release.drydock'));
    await place(p.release.trustedRoot, join(dir, 'release', 'root.json'));
    release = { bundle: 'release/release.drydock', trustedRoot: 'release/root.json' };
  } else omitted.push(p.releaseMissing ?? 'release: none given; the box starts without an installed release');
  const manifest: InputsManifest = {
    name: p.name,
    version: p.version,
    app: 'drydock-app.tar.zst',
    k3s,
    release,
    omitted,
  };
  await writeFile(join(dir, 'inputs.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
