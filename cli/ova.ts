import type { Command } from 'commander';
import { DrydockError, formatBytes } from '../core/index.ts';
import { packOva } from '../images/index.ts';
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
    .description('Pack disk images into an OVA (streamOptimized VMDKs, OVF 1.1 descriptor, SHA256 manifest)')
    .requiredOption('--disk <path...>', 'disk image(s): raw, qcow2, vmdk…; the first one boots')
    .requiredOption('--out <file.ova>', 'the OVA to write')
    .option('--name <name>', 'virtual machine name (default: the output file name)')
    .option('--cpus <n>', 'virtual CPUs', int('--cpus'), 4)
    .option('--memory-mb <n>', 'memory in MB', int('--memory-mb'), 16384)
    .option('--scsi <kind>', 'SCSI controller: pvscsi or lsilogic', 'pvscsi')
    .option('--json', 'print the result as JSON')
    .action(
      action(
        async (
          out,
          opts: { disk: string[]; out: string; name?: string; cpus: number; memoryMb: number; scsi: string },
        ) => {
          if (opts.scsi !== 'pvscsi' && opts.scsi !== 'lsilogic')
            throw new DrydockError('USAGE', `--scsi must be pvscsi or lsilogic (got "${opts.scsi}")`);
          const r = await packOva({
            disks: opts.disk,
            out: opts.out,
            name: opts.name,
            cpus: opts.cpus,
            memoryMb: opts.memoryMb,
            scsi: opts.scsi,
            onProgress: (step, done, total) => out.progress(step, done, total),
          });
          out.result(`wrote ${r.path} (${formatBytes(r.bytes)})`, {
            path: r.path,
            bytes: r.bytes,
            files: r.files,
          });
          return 0;
        },
      ),
    );
}
