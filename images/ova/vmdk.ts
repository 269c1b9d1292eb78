// qemu-img is the disk-format workhorse: probe what the input is, write a streamOptimized VMDK
// (the only VMDK flavour an OVA may carry: compressed grains, sequentially readable).
import { open, stat } from 'node:fs/promises';
import { DrydockError } from '../../core/index.ts';
import type { Exec } from '../exec.ts';

export interface DiskInfo {
  format: string;
  virtualSize: number;
  actualSize?: number;
  createType?: string;
}

const IMAGE_FORMATS = new Set(['raw', 'qcow2', 'vmdk', 'vhdx', 'vpc', 'vdi']);

export async function qemuImgInfo(exec: Exec, path: string): Promise<DiskInfo> {
  const { stdout } = await exec('qemu-img', ['info', '--output=json', path]);
  const j = JSON.parse(stdout) as {
    format: string;
    'virtual-size': number;
    'actual-size'?: number;
    'format-specific'?: { data?: { 'create-type'?: string } };
  };
  return {
    format: j.format,
    virtualSize: j['virtual-size'],
    actualSize: j['actual-size'],
    createType: j['format-specific']?.data?.['create-type'],
  };
}

// qemu-img calls every unrecognised file "raw"; a raw disk worth packing starts with a partition
// table or a filesystem, or is blank (a fresh data disk), and is a whole number of sectors.
async function looksLikeRawDisk(path: string, size: number): Promise<boolean> {
  if (size < 1024 * 1024 || size % 512 !== 0) return false;
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4096);
    await fh.read(b, 0, 4096, 0);
    const mbr = b[510] === 0x55 && b[511] === 0xaa;
    const ext = b.readUInt16LE(1080) === 0xef53;
    const xfs = b.toString('ascii', 0, 4) === 'XFSB';
    const blank = b.every((x) => x === 0);
    return mbr || ext || xfs || blank;
  } finally {
    await fh.close();
  }
}

/** Refuses what is not a disk image, with a plain reason; returns what qemu-img sees. */
export async function probeDisk(exec: Exec, path: string): Promise<DiskInfo> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch {
    throw new DrydockError('BUILD_INPUT_MISSING', `disk ${path} does not exist`);
  }
  if (!st.isFile()) throw new DrydockError('BUILD_INPUT_MISSING', `disk ${path} is not a regular file`);
  let info: DiskInfo;
  try {
    info = await qemuImgInfo(exec, path);
  } catch (err) {
    if (err instanceof DrydockError && err.code === 'TOOL_MISSING') throw err;
    throw new DrydockError('IMAGE_INVALID', `${path} is not a disk image qemu-img can read`, { cause: err });
  }
  if (!IMAGE_FORMATS.has(info.format))
    throw new DrydockError(
      'IMAGE_INVALID',
      `${path} is a ${info.format} image; use raw, qcow2, vmdk, vhdx, vpc or vdi`,
    );
  if (info.format === 'raw' && !(await looksLikeRawDisk(path, st.size)))
    throw new DrydockError(
      'IMAGE_INVALID',
      `${path} is not a disk image (no partition table or filesystem, or not a whole number of 512-byte sectors)`,
    );
  return info;
}

export async function toStreamOptimizedVmdk(
  exec: Exec,
  src: string,
  format: string,
  dst: string,
  onPercent?: (pct: number) => void,
): Promise<void> {
  await exec(
    'qemu-img',
    [
      'convert',
      '-p',
      '-f',
      format,
      '-O',
      'vmdk',
      '-o',
      'subformat=streamOptimized,adapter_type=lsilogic',
      src,
      dst,
    ],
    {
      onLine: (line) => {
        // qemu-img -p redraws "    (42.00/100%)" with carriage returns
        for (const m of line.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)) onPercent?.(Number(m[1]));
      },
    },
  );
}
