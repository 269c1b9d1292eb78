// drydock build ova|raw|ami: base OS (cached) → inputs → payload → Packer (qemu or amazon-ebs, the
// same provisioners) → the artifact: dist/<name>-<version>.ova (golden disk + data disk),
// dist/<name>-<version>.raw (what `aws publish-ami` uploads), or an AMI.
import { copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DrydockError } from '../../core/index.ts';
import { readBundleHead } from '../../updater/bundle/index.ts';
import { type BaseImage, buildBase } from '../base/index.ts';
import { defaultExec, type Exec } from '../exec.ts';
import { loadSigner, packOva, qemuImgInfo } from '../ova/index.ts';
import { type Accelerator, chooseAccelerator } from './accel.ts';
import { readInputsLock, resolveInputs } from './inputs.ts';
import { type PackerVar, runPacker } from './packer.ts';
import { stagePayload } from './payload.ts';

export type BuildTarget = 'ova' | 'raw' | 'ami';

export interface BuildOptions {
  target: BuildTarget;
  /** the Drydock checkout (templates, provisioners, the app that goes on the box) */
  repo: string;
  cacheDir?: string;
  distDir?: string;
  /** the release to install; without one the demo release is built and installed */
  bundle?: string;
  trustedRoot?: string;
  k3sBinary?: string;
  k3sImages?: string;
  /** the backend source for `backend render` (default: the reference backend) */
  backendSource?: string;
  /** go on without inputs that are neither local nor pinned (default: only for the demo) */
  allowMissing?: boolean;
  cpus?: number;
  memoryMb?: number;
  accel?: Accelerator;
  /** sign the OVA (target ova): RSA private key and its X.509 certificate, PEM */
  signKey?: string;
  signCert?: string;
  exec?: Exec;
  onStage?: (stage: string) => void;
  onLine?: (line: string) => void;
  clock?: () => number;
}

export interface BuildResult {
  name: string;
  version: string;
  artifact: string;
  /** the sealed golden disk and the data disk (qemu targets) */
  disk?: string;
  dataDisk?: string;
  accel?: Accelerator;
  base?: BaseImage;
  stages: Record<string, number>;
  omitted: string[];
  consoleLog?: string;
}

/** what releaseToInstall needs of examples/demo/index.ts */
interface DemoModule {
  DEMO_NAME: string;
  buildDemo(o: { cacheDir: string }): Promise<{ bundles: Record<'1.0.0', string>; rootPath: string }>;
}

async function releaseToInstall(
  o: BuildOptions,
  repo: string,
  cacheDir: string,
): Promise<
  { bundle: string; trustedRoot: string; name: string; version: string; demo: boolean } | { missing: string }
> {
  if (o.bundle || o.trustedRoot) {
    if (!o.bundle || !o.trustedRoot)
      throw new DrydockError(
        'USAGE',
        'give --bundle and --trusted-root together (the box must trust the release it ships)',
      );
    const { release } = await readBundleHead(o.bundle, { trustedRoot: o.trustedRoot });
    return {
      bundle: o.bundle,
      trustedRoot: o.trustedRoot,
      name: release.name,
      version: release.version,
      demo: false,
    };
  }
  try {
    // the demo release is an input found in the checkout (like appliance/provision), loaded from
    // `repo` at run time: the image pipeline does not depend on examples/
    const { buildDemo, DEMO_NAME } = (await import(
      pathToFileURL(join(repo, 'examples', 'demo', 'index.ts')).href
    )) as DemoModule;
    const demo = await buildDemo({ cacheDir: join(cacheDir, 'demo') });
    return {
      bundle: demo.bundles['1.0.0'],
      trustedRoot: demo.rootPath,
      name: DEMO_NAME,
      version: '1.0.0',
      demo: true,
    };
  } catch (err) {
    return { missing: `demo release: could not be built (${(err as Error).message.split('\n')[0]})` };
  }
}

async function provisionScripts(repo: string): Promise<string[]> {
  const dir = join(repo, 'appliance', 'provision');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.sh')).sort();
  return names.map((n) => join(dir, n));
}

export async function buildImage(o: BuildOptions): Promise<BuildResult> {
  const repo = resolve(o.repo);
  const exec = o.exec ?? defaultExec;
  const clock = o.clock ?? Date.now;
  const cacheDir = resolve(o.cacheDir ?? join(repo, '.cache', 'images'));
  const distDir = resolve(o.distDir ?? join(repo, 'dist'));
  const templateDir = join(repo, 'images', 'packer');
  const stages: Record<string, number> = {};
  const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    o.onStage?.(name);
    const t0 = clock();
    try {
      return await fn();
    } finally {
      stages[name] = (clock() - t0) / 1000;
    }
  };

  // inputs first: a bad or missing input stops the build before minutes of work
  if ((o.signKey === undefined) !== (o.signCert === undefined))
    throw new DrydockError('USAGE', 'give --sign-key and --sign-cert together');
  if (o.signKey && o.target !== 'ova') throw new DrydockError('USAGE', 'only an OVA is signed (--sign-key)');
  // a key that cannot sign stops the build now, not after the image is made
  const signer = o.signKey && o.signCert ? await loadSigner(o.signKey, o.signCert, clock) : undefined;
  const rel = await stage('release', () => releaseToInstall(o, repo, cacheDir));
  const demo = 'missing' in rel || rel.demo;
  const allowMissing = o.allowMissing ?? demo;
  if ('missing' in rel && !allowMissing) throw new DrydockError('BUILD_INPUT_MISSING', rel.missing);
  const lock = await readInputsLock(join(repo, 'images', 'inputs.lock.json'));
  const inputs = await stage('inputs', () =>
    resolveInputs({ lock, cacheDir, k3sBinary: o.k3sBinary, k3sImages: o.k3sImages, allowMissing }),
  );
  const name = 'missing' in rel ? 'drydock-demo' : rel.name;
  const version = 'missing' in rel ? '0.0.0' : rel.version;
  const scripts = await provisionScripts(repo);
  const omitted = [...inputs.omitted];
  if (scripts.length === 0) {
    if (!allowMissing)
      throw new DrydockError('BUILD_INPUT_MISSING', 'appliance/provision has no provisioning scripts (*.sh)');
    omitted.push(
      'appliance provisioning: appliance/provision has no scripts; the image is the sealed base OS',
    );
    scripts.push(join(templateDir, 'no-provisioners.sh'));
  }

  const work = join(cacheDir, 'builds', `${name}-${version}-${o.target}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  await mkdir(distDir, { recursive: true });

  const manifest = await stage('payload', () =>
    stagePayload(exec, repo, join(work, 'payload'), {
      backendSource: o.backendSource,
      name,
      version,
      inputs,
      release: 'missing' in rel ? null : { bundle: rel.bundle, trustedRoot: rel.trustedRoot },
      releaseMissing: 'missing' in rel ? rel.missing : undefined,
    }),
  );
  omitted.splice(
    0,
    omitted.length,
    ...manifest.omitted,
    ...omitted.filter((x) => !manifest.omitted.includes(x)),
  );

  // Without k3s the first release goes onto the stand-in cluster (updater/cluster/standin; the base carries umoci and
  // busybox for it), so the box boots with a running release; DRYDOCK_BOX_CLUSTER=k3s leaves it out.
  const cluster = inputs.k3sBinary.path || process.env.DRYDOCK_BOX_CLUSTER === 'k3s' ? 'k3s' : 'standin';
  if (!inputs.k3sBinary.path)
    omitted.push(
      cluster === 'standin'
        ? 'cluster: no k3s in the image; the first release is installed on the stand-in cluster'
        : 'first release: not installed (no k3s in the image, DRYDOCK_BOX_CLUSTER=k3s)',
    );
  const common: Record<string, PackerVar> = {
    name,
    version,
    cluster,
    payload_dir: join(work, 'payload'),
    provision_scripts: scripts,
  };

  if (o.target === 'ami') {
    await stage('packer', () =>
      runPacker({
        exec,
        templateDir,
        workDir: work,
        source: 'amazon-ebs.appliance',
        vars: common,
        onLine: o.onLine,
      }),
    );
    return { name, version, artifact: 'ami (see the Packer output above)', stages, omitted };
  }

  const base = await stage('base', () => buildBase({ cacheDir, exec, onLine: o.onLine, clock }));
  for (const [k, v] of Object.entries(base.stages)) stages[`base:${k}`] = v;
  const accel = o.accel ?? (await stage('accel', () => chooseAccelerator()));
  const { createHash } = await import('node:crypto');
  const { createReadStream } = await import('node:fs');
  const h = createHash('sha256');
  for await (const c of createReadStream(base.disk) as AsyncIterable<Buffer>) h.update(c);
  const diskSize = `${Math.ceil((await qemuImgInfo(exec, base.disk)).virtualSize / 1048576)}M`;
  // the provisioners write k3s's images and Drydock's state onto the data disk: a copy per build
  const dataDisk = join(work, 'data.qcow2');
  await copyFile(base.dataDisk, dataDisk);
  const outDir = join(work, 'packer-out');
  const consoleLog = join(work, 'console.log');
  await stage('packer', () =>
    runPacker({
      exec,
      templateDir,
      workDir: work,
      source: 'qemu.appliance',
      vars: {
        ...common,
        base_disk: base.disk,
        base_disk_checksum: `sha256:${h.digest('hex')}`,
        data_disk: dataDisk,
        ssh_private_key_file: base.sshKey,
        build_user: base.buildUser,
        output_dir: outDir,
        console_log: consoleLog,
        accelerator: accel,
        cpus: 2,
        memory_mb: 2048,
        disk_size: diskSize,
      },
      onLine: o.onLine,
    }),
  );
  const disk = join(work, 'disk.qcow2');
  await rename(join(outDir, `${name}-${version}.qcow2`), disk);

  let artifact: string;
  if (o.target === 'ova') {
    artifact = join(distDir, `${name}-${version}.ova`);
    await stage('ova', () =>
      packOva({
        disks: [disk, dataDisk],
        out: artifact,
        name,
        cpus: o.cpus ?? 4,
        memoryMb: o.memoryMb ?? 16384,
        product: { name, version, vendor: 'Drydock' },
        signer,
        exec,
      }),
    );
  } else {
    artifact = join(distDir, `${name}-${version}.raw`);
    const dataRaw = join(distDir, `${name}-${version}-data.raw`);
    await stage('raw', async () => {
      await exec('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', disk, artifact]);
      await exec('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', dataDisk, dataRaw]);
    });
  }
  return { name, version, artifact, disk, dataDisk, accel, base, stages, omitted, consoleLog };
}
