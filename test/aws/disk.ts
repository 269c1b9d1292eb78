// Test disks: sparse raw files with data in chosen 512 KiB blocks (distinct content per block).
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

export const BLOCK = 524288;

export function blockContent(index: number, seed = 'disk'): Buffer {
  const buf = Buffer.alloc(BLOCK);
  let h = createHash('sha256').update(`${seed}/${index}`).digest();
  for (let off = 0; off < BLOCK; off += 4096) {
    h.copy(buf, off);
    h = createHash('sha256').update(h).digest();
  }
  return buf;
}

/** A sparse file of `bytes` with data in `dataBlocks` (the last may be partial). */
export async function makeDisk(
  path: string,
  bytes: number,
  dataBlocks: number[],
  seed?: string,
): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(bytes);
    for (const i of dataBlocks) {
      const data = blockContent(i, seed);
      const len = Math.min(BLOCK, bytes - i * BLOCK);
      await fh.write(data, 0, len, i * BLOCK);
    }
  } finally {
    await fh.close();
  }
}

/** The block as the snapshot must hold it: the disk's bytes, zero-padded to a full block. */
export function expectedBlock(index: number, bytes: number, seed?: string): Buffer {
  const data = blockContent(index, seed);
  const len = Math.min(BLOCK, bytes - index * BLOCK);
  if (len < BLOCK) data.fill(0, len);
  return data;
}
