import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DrydockError } from '../core/index.ts';
import { type BuildTarget, buildImage } from '../images/index.ts';
import { action } from './run.ts';

interface BuildFlags {
  bundle?: string;
  trustedRoot?: string;
  k3sBinary?: string;
  k3sImages?: string;
  backendSource?: string;
  allowMissing?: boolean;
  cpus?: string;
  memoryMb?: string;
  accel?: string;
  signKey?: string;
  signCert?: string;
  dist?: string;
  cache?: string;
  json?: boolean;
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new DrydockError('USAGE', `${flag} takes a whole number (got "${v}")`);
  return Number(v);
}

function register(group: Command, target: BuildTarget, what: string): void {
  const cmd = group
    .command(target)
    .description(what)
    .option('--bundle <file>', 'the signed release bundle to install (default: the demo release)')
    .option('--trusted-root <root.json>', 'the root.json the box trusts (with --bundle)')
    .option('--k3s-binary <path>', 'a local k3s binary (offline builds)')
    .option('--k3s-images <path>', 'a local k3s airgap images archive (offline builds)')
    .option(
      '--backend-source <path>',
      'backend source for the rendered manifests (default: the reference backend)',
    )
    .option(
      '--allow-missing',
      'build without inputs that are neither local nor pinned (default for the demo)',
    )
    .option('--dist <dir>', 'where the artifact goes', 'dist')
    .option('--cache <dir>', 'cache of base images, downloads and build folders', '.cache/images')
    .option('--json', 'print progress events and the result as JSON');
  if (target !== 'ami')
    cmd
      .option('--accel <kvm|tcg>', 'QEMU accelerator (default: tcg; DRYDOCK_ACCEL=auto probes KVM)')
      .option('--cpus <n>', 'vCPUs of the OVA virtual machine', '4')
      .option('--memory-mb <n>', 'memory of the OVA virtual machine in MB', '16384');
  if (target === 'ova')
    cmd
      .option('--sign-key <key.pem>', "sign the OVA's manifest with this RSA private key (PEM)")
      .option('--sign-cert <cert.pem>', "the key's X.509 certificate, then any intermediates (PEM)");
  cmd.action(
    action(async (out, flags: BuildFlags) => {
      if (flags.accel !== undefined && flags.accel !== 'kvm' && flags.accel !== 'tcg')
        throw new DrydockError('USAGE', `--accel must be kvm or tcg (got "${flags.accel}")`);
      const t0 = Date.now();
      const r = await buildImage({
        target,
        repo: process.cwd(),
        distDir: resolve(flags.dist ?? 'dist'),
        cacheDir: resolve(flags.cache ?? '.cache/images'),
        bundle: flags.bundle,
        trustedRoot: flags.trustedRoot,
        k3sBinary: flags.k3sBinary,
        k3sImages: flags.k3sImages,
        backendSource: flags.backendSource,
        allowMissing: flags.allowMissing,
        cpus: int('--cpus', flags.cpus),
        memoryMb: int('--memory-mb', flags.memoryMb),
        accel: flags.accel as 'kvm' | 'tcg' | undefined,
        signKey: flags.signKey,
        signCert: flags.signCert,
        onStage: (s) => {
          if (out.json) out.progress(s, 0);
          else out.info(`==> ${s}`);
        },
        onLine: (l) => out.info(`    ${l}`),
      });
      for (const o of r.omitted) out.info(`left out: ${o}`);
      const secs = ((Date.now() - t0) / 1000).toFixed(0);
      out.result(`built ${r.artifact} in ${secs} s${r.accel ? ` (${r.accel})` : ''}`, {
        artifact: r.artifact,
        name: r.name,
        version: r.version,
        accel: r.accel,
        stages: r.stages,
        omitted: r.omitted,
        disk: r.disk,
        dataDisk: r.dataDisk,
      });
      return 0;
    }),
  );
}

export function registerBuild(program: Command): void {
  const build = program
    .command('build')
    .description('Build the appliance image (Packer: qemu or amazon-ebs)');
  register(build, 'ova', 'Build dist/<name>-<version>.ova for vSphere (golden disk + data disk)');
  register(build, 'raw', 'Build dist/<name>-<version>.raw, the golden disk that aws publish-ami uploads');
  register(build, 'ami', "Build an AMI with Packer's amazon-ebs source (AWS credentials needed)");
}
