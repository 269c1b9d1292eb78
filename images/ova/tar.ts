// A POSIX ustar header writer. The OVA must be a ustar archive (OVF 1.1 §5.3) with entries in a
// fixed order, and we patch the manifest's bytes in place after the disks are hashed, so we need
// exact control over offsets; 30 lines of our own beat second-guessing a library's padding rules.
import { DrydockError } from '../../core/index.ts';

export const BLOCK = 512;

export function padTo512(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  const s = value.toString(8).padStart(width - 1, '0');
  buf.write(`${s}\0`, offset, width, 'ascii');
}

export function ustarHeader(name: string, size: number, mtimeSec: number, mode = 0o644): Buffer {
  if (!/^[\x21-\x7e]{1,100}$/.test(name))
    throw new DrydockError('OVF_INVALID', `tar entry name "${name}" is not ustar-safe`);
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 100, 'ascii');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  if (size < 8 ** 11) octal(h, 124, 12, size);
  else {
    // GNU/star base-256 for entries of 8 GiB and more (big disks); GNU tar, bsdtar and ovftool read it
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  octal(h, 136, 12, Math.floor(mtimeSec));
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}
