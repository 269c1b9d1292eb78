// The EBS direct APIs speak in fixed 512 KiB blocks: each written block carries its own SHA256
// (base64), and CompleteSnapshot takes the "linear" aggregate of those checksums.
import { createHash, webcrypto } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

export const BLOCK_SIZE = 512 * 1024;
const ZERO = Buffer.alloc(BLOCK_SIZE);

export function blockCount(diskBytes: number): number {
  return Math.ceil(diskBytes / BLOCK_SIZE);
}

/** EBS volume size in GiB that holds the disk (the API takes whole GiB). */
export function volumeSizeGiB(diskBytes: number): number {
  return Math.max(1, Math.ceil(diskBytes / 1024 ** 3));
}

export function isZeroBlock(block: Buffer): boolean {
  return block.length === BLOCK_SIZE ? block.equals(ZERO) : block.every((b) => b === 0);
}

export function blockChecksum(block: Buffer): string {
  return createHash('sha256').update(block).digest('base64');
}

/** The same SHA256 in hex: SigV4's payload hash, so the signer need not hash the block again. */
export function checksumHex(checksum: string): string {
  return Buffer.from(checksum, 'base64').toString('hex');
}

/**
 * LINEAR aggregation as EBS defines it: the base64-decoded checksums of the written blocks, in
 * ascending block index, concatenated, hashed with SHA256, base64-encoded.
 */
export function linearChecksum(checksums: ReadonlyMap<number, string>): string {
  const hash = createHash('sha256');
  for (const index of [...checksums.keys()].sort((a, b) => a - b)) {
    hash.update(Buffer.from(checksums.get(index)!, 'base64'));
  }
  return hash.digest('base64');
}

/**
 * Reads `count` blocks from block `first` in one read (fewer round trips to the thread pool than
 * one read per block); the tail of a disk whose size is not a multiple of the block size is
 * zero-padded, because PutSnapshotBlock only takes full blocks.
 */
export async function readBlocks(
  fh: FileHandle,
  first: number,
  count: number,
  diskBytes: number,
  into?: Buffer,
): Promise<Buffer> {
  // not zero-filled up front (a memset per byte scanned): the read overwrites it, and whatever it
  // did not reach is zeroed below; `into` lets a caller reuse one buffer for the whole disk
  const buf =
    into && into.length >= count * BLOCK_SIZE
      ? into.subarray(0, count * BLOCK_SIZE)
      : Buffer.allocUnsafe(count * BLOCK_SIZE);
  const start = first * BLOCK_SIZE;
  const want = Math.max(0, Math.min(buf.length, diskBytes - start));
  let got = 0;
  while (got < want) {
    const { bytesRead } = await fh.read(buf, got, want - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  if (got < buf.length) buf.fill(0, got);
  return buf;
}

/** blockChecksum on the libuv thread pool (WebCrypto), so several blocks hash on several cores. */
export async function blockChecksumAsync(block: Buffer): Promise<string> {
  const view = new Uint8Array(block.buffer as ArrayBuffer, block.byteOffset, block.byteLength);
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', view)).toString('base64');
}
