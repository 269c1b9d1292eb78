import type { Command } from 'commander';
import { DrydockError, formatBytes } from '../core/index.ts';
import { loadSigner, packOva, verifyOva } from '../images/index.ts';
import { action } from './run.ts';

function int(flag: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new DrydockError('USAGE', `${flag} takes a whole number (got "${v}")`);
    return Number(v);
  };
}

export function registerOva(program: Command): void {
  const ova = program.command('ova').description('OVA packaging for vSphere');
  ova
    .command('pack')
    .description(
      'Pack disk images into an OVA (streamOptimized VMDKs, OVF 1.1 descriptor, SHA256 manifest, optional signature)',
    )
    .requiredOption('--disk <path...>', 'disk image(s): raw, qcow2, vmdk…; the first one boots')
    .requiredOption('--out <file.ova>', 'the OVA to write')
    .option('--name <name>', 'virtual machine name (default: the output file name)')
    .option('--cpus <n>', 'virtual CPUs', int('--cpus'), 4)
    .option('--memory-mb <n>', 'memory in MB', int('--memory-mb'), 16384)
    .option('--scsi <kind>', 'SCSI controller: pvscsi or lsilogic', 'pvscsi')
    .option('--sign-key <key.pem>', 'sign the manifest with this RSA private key (PEM)')
    .option('--sign-cert <cert.pem>', "the key's X.509 certificate, then any intermediates (PEM)")
    .option('--json', 'print the result as JSON')
    .action(
      action(
        async (
          out,
          opts: {
            disk: string[];
            out: string;
            name?: string;
            cpus: number;
            memoryMb: number;
            scsi: string;
            signKey?: string;
            signCert?: string;
          },
        ) => {
          if (opts.scsi !== 'pvscsi' && opts.scsi !== 'lsilogic')
            throw new DrydockError('USAGE', `--scsi must be pvscsi or lsilogic (got "${opts.scsi}")`);
          if ((opts.signKey === undefined) !== (opts.signCert === undefined))
            throw new DrydockError('USAGE', 'give --sign-key and --sign-cert together');
          const signer =
            opts.signKey && opts.signCert ? await loadSigner(opts.signKey, opts.signCert) : undefined;
          const r = await packOva({
            disks: opts.disk,
            out: opts.out,
            name: opts.name,
            cpus: opts.cpus,
            memoryMb: opts.memoryMb,
            scsi: opts.scsi,
            signer,
            onProgress: (step, done, total) => out.progress(step, done, total),
          });
          out.result(`wrote ${r.path} (${formatBytes(r.bytes)})${signer ? ', signed' : ''}`, {
            path: r.path,
            bytes: r.bytes,
            signed: Boolean(signer),
            files: r.files,
          });
          return 0;
        },
      ),
    );
  ova
    .command('verify')
    .description(
      'Check an OVA as vSphere does: entry order, manifest digests, the signature and (with --ca) its chain',
    )
    .argument('<file.ova>', 'the OVA to check')
    .option('--ca <ca.pem>', 'CA certificate(s) the signing certificate must chain to')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (out, file: string, opts: { ca?: string }) => {
        const r = await verifyOva(file, {
          ca: opts.ca,
          onProgress: (step, done, total) => out.progress(step, done, total),
        });
        const sig = r.signed
          ? `signed by ${r.signer?.replace(/\n/g, ', ')}${r.trusted ? ', chains to the CA' : ' (chain not checked: no --ca)'}`
          : 'not signed';
        out.result(`${file}: order ok, ${r.manifest.files} digests match (${r.manifest.algorithm}), ${sig}`, {
          ...r,
        });
        return 0;
      }),
    );
}
