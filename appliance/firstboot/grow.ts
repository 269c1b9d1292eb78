// Grow the data filesystem to its disk: a bigger disk chosen at import (vSphere) or launch (EBS)
// becomes usable without anyone running growpart by hand.
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PATHS } from './apply.ts';
import type { Exec } from './deps.ts';

export interface GrowResult {
  device: string | null;
  grown: boolean;
  message: string;
}

export async function growDataFilesystem(root: string, exec: Exec): Promise<GrowResult> {
  let dev: string;
  try {
    dev = await realpath(join(root, PATHS.dataLabel));
  } catch {
    return {
      device: null,
      grown: false,
      message: 'no data filesystem labelled drydock-data: nothing to grow',
    };
  }
  const name = basename(dev);
  // the device the kernel sees, with the root prefix taken off for the tools
  const boxDev = root === '/' ? dev : `/dev/${name}`;
  const sys = join(root, 'sys/class/block', name);
  const partNo = (await readFile(join(sys, 'partition'), 'utf8').catch(() => '')).trim();
  if (partNo) {
    const parent = basename(dirname(await realpath(sys)));
    const gp = await exec('growpart', [`/dev/${parent}`, partNo]);
    // growpart exits 1 with NOCHANGE when the partition already fills its disk
    if (gp.code !== 0 && !/NOCHANGE/.test(gp.stdout + gp.stderr))
      return {
        device: boxDev,
        grown: false,
        message: `growpart /dev/${parent} ${partNo} failed: ${(gp.stderr || gp.stdout).trim()}`,
      };
  }
  const rs = await exec('resize2fs', [boxDev]);
  if (rs.code !== 0)
    return {
      device: boxDev,
      grown: false,
      message: `resize2fs ${boxDev} failed: ${rs.stderr.trim().split('\n').pop()}`,
    };
  return { device: boxDev, grown: true, message: `data filesystem ${boxDev} grown to its disk` };
}
