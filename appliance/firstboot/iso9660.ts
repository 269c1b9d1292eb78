// Just enough ISO 9660 to read one file from the root directory of the OVF ISO transport's CD:
// no mount, no root privilege, no extra tool on the box. Names compare case-insensitively with
// the ";1" version and the 8.3 mangling ("-" stored as "_") undone.
import { open } from 'node:fs/promises';

const SECTOR = 2048;

async function readAt(path: string, pos: number, len: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, pos);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function primaryDescriptor(path: string): Promise<Buffer | null> {
  for (let s = 16; s < 32; s++) {
    const d = await readAt(path, s * SECTOR, SECTOR);
    if (d.length < SECTOR || d.toString('latin1', 1, 6) !== 'CD001') return null;
    if (d[0] === 1) return d;
    if (d[0] === 255) return null;
  }
  return null;
}

export async function readIsoVolumeId(path: string): Promise<string | null> {
  const pvd = await primaryDescriptor(path);
  return pvd ? pvd.toString('latin1', 40, 72).trimEnd() : null;
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/;\d+$/, '').replace(/\.$/, '').replace(/_/g, '-');
}

export async function readIsoFile(path: string, name: string): Promise<Buffer | null> {
  const pvd = await primaryDescriptor(path);
  if (!pvd) return null;
  const rootRec = pvd.subarray(156, 156 + 34);
  const dirLba = rootRec.readUInt32LE(2);
  const dirLen = rootRec.readUInt32LE(10);
  const dir = await readAt(path, dirLba * SECTOR, Math.min(dirLen, 1024 * 1024));
  const want = normalise(name);
  let off = 0;
  while (off < dir.length) {
    const len = dir[off]!;
    if (len === 0) {
      off = (Math.floor(off / SECTOR) + 1) * SECTOR; // records never straddle a sector
      continue;
    }
    const flags = dir[off + 25]!;
    const nameLen = dir[off + 32]!;
    const recName = dir.toString('latin1', off + 33, off + 33 + nameLen);
    if ((flags & 2) === 0 && normalise(recName) === want) {
      const size = dir.readUInt32LE(off + 10);
      if (size > 1024 * 1024) return null; // an OVF environment is a few KiB
      return readAt(path, dir.readUInt32LE(off + 2) * SECTOR, size);
    }
    off += len;
  }
  return null;
}
