// Runs Packer on images/packer through the injected exec (images/exec.ts), streaming its lines as live progress. Debian's Packer
// 1.6.6 has the builders built in; current Packer gets its plugins from images/packer/plugins first.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import type { Exec } from '../exec.ts';

export type PackerVar = string | number | string[];

function hclString(s: string): string {
  // a JSON string is an HCL string, except that HCL interpolates ${ and %{
  return JSON.stringify(s).replace(/\$\{/g, '$$$${').replace(/%\{/g, '%%{');
}

export function pkrvars(vars: Record<string, PackerVar>): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(k)) throw new DrydockError('INTERNAL', `bad packer variable name ${k}`);
      const val = Array.isArray(v)
        ? `[${v.map(hclString).join(', ')}]`
        : typeof v === 'number'
          ? String(v)
          : hclString(v);
      return `${k} = ${val}\n`;
    })
    .join('');
}

async function packerVersion(exec: Exec): Promise<string> {
  const { stdout } = await exec('packer', ['version']);
  const m = /Packer v?(\d+\.\d+\.\d+)/.exec(stdout);
  if (!m)
    throw new DrydockError('TOOL_FAILED', `cannot tell the Packer version from "${stdout.split('\n')[0]}"`);
  return m[1]!;
}

export function needsPlugins(version: string): boolean {
  const [maj, min] = version.split('.').map(Number);
  return maj! > 1 || (maj === 1 && min! >= 7);
}

export async function runPacker(opts: {
  exec: Exec;
  templateDir: string;
  workDir: string;
  source: 'qemu.appliance' | 'amazon-ebs.appliance';
  vars: Record<string, PackerVar>;
  onLine?: (line: string) => void;
}): Promise<void> {
  const version = await packerVersion(opts.exec);
  if (needsPlugins(version))
    await opts.exec('packer', ['init', join(opts.templateDir, 'plugins')], { onLine: opts.onLine });
  const varFile = join(opts.workDir, 'build.pkrvars.hcl');
  await writeFile(varFile, pkrvars(opts.vars));
  await opts.exec(
    'packer',
    [
      'build',
      '-color=false',
      '-on-error=cleanup',
      `-only=drydock.${opts.source}`,
      `-var-file=${varFile}`,
      '.',
    ],
    {
      cwd: opts.templateDir,
      onLine: opts.onLine,
      // Packer keeps its cache (and port locks) beside the templates unless told otherwise
      env: {
        ...process.env,
        PACKER_NO_COLOR: '1',
        CHECKPOINT_DISABLE: '1',
        PACKER_CACHE_DIR: join(opts.workDir, 'packer_cache'),
      },
    },
  );
}
