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

/** The SCSI controller the OVF declares; the VMDK's ddb.adapterType names the same one. */
export type ScsiController = 'lsilogic' | 'pvscsi';

export async function toStreamOptimizedVmdk(
  exec: Exec,
  src: string,
  format: string,
  dst: string,
  onPercent?: (pct: number) => void,
  controller: ScsiController = 'pvscsi',
): Promise<void> {
  // qemu-img knows ide, buslogic, lsilogic and legacyESX only: write lsilogic, then name the
  // controller the OVF declares in the embedded descriptor (ESXi's own vmkfstools writes "pvscsi")
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
  if (controller !== 'lsilogic') await setVmdkAdapterType(dst, controller);
}

const SECTOR = 512;

/** Reads the text descriptor embedded in a sparse/streamOptimized VMDK (header "KDMV"). */
export async function readVmdkDescriptor(
  path: string,
): Promise<{ text: string; offset: number; size: number }> {
  const fh = await open(path, 'r');
  try {
    const h = Buffer.alloc(SECTOR);
    await fh.read(h, 0, SECTOR, 0);
    if (h.toString('ascii', 0, 4) !== 'KDMV')
      throw new DrydockError('IMAGE_INVALID', `${path} is not a sparse VMDK (no KDMV header)`);
    // SparseExtentHeader: descriptorOffset and descriptorSize, in sectors, at bytes 28 and 36
    const offset = Number(h.readBigUInt64LE(28)) * SECTOR;
    const size = Number(h.readBigUInt64LE(36)) * SECTOR;
    if (offset === 0 || size === 0 || size > 1024 * SECTOR)
      throw new DrydockError('IMAGE_INVALID', `${path} has no embedded descriptor`);
    const b = Buffer.alloc(size);
    await fh.read(b, 0, size, offset);
    const end = b.indexOf(0);
    return { text: b.toString('utf8', 0, end < 0 ? size : end), offset, size };
  } finally {
    await fh.close();
  }
}

/** Rewrites ddb.adapterType in the embedded descriptor, in place (the region keeps its size). */
async function setVmdkAdapterType(path: string, adapter: ScsiController): Promise<void> {
  const d = await readVmdkDescriptor(path);
  const re = /^ddb\.adapterType = "[^"]*"$/m;
  if (!re.test(d.text))
    throw new DrydockError('TOOL_FAILED', `${path}: qemu-img wrote no ddb.adapterType to replace`);
  const text = Buffer.from(d.text.replace(re, `ddb.adapterType = "${adapter}"`), 'utf8');
  if (text.length >= d.size)
    throw new DrydockError('INTERNAL', `${path}: the descriptor does not fit its ${d.size}-byte region`);
  const region = Buffer.alloc(d.size, 0);
  text.copy(region);
  const fh = await open(path, 'r+');
  try {
    await fh.write(region, 0, region.length, d.offset);
  } finally {
    await fh.close();
  }
}
