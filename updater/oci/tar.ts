// A small, strict tar (ustar + pax) codec. We write bundles ourselves and read them as a stream
// without extra copies: entry data is handed on as slices of the chunks read, which keeps verify
// close to the speed of hashing. Anything the reader cannot classify surfaces as type "other".
import { DrydockError } from '../../core/index.ts';

export const BLOCK = 512;

type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface TarHeader {
  name: string;
  type: EntryType;
  /** the raw typeflag character, for error messages */
  flag: string;
  size: number;
  mode: number;
  linkname: string;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '5': 'directory',
  '2': 'symlink',
  '1': 'hardlink',
  '3': 'char',
  '4': 'block',
  '6': 'fifo',
};

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function cstr(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end === -1 || end > start + len ? start + len : end);
}

function parseNumber(buf: Buffer, start: number, len: number): number {
  // GNU base-256 for values that do not fit in octal
  if (buf[start]! & 0x80) {
    if (buf[start]! & 0x40) return Number.NaN; // negative
    let v = buf[start]! & 0x3f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + buf[i]!;
    return Number.isSafeInteger(v) ? v : Number.NaN;
  }
  const s = cstr(buf, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return Number.NaN;
  return Number.parseInt(s, 8);
}

export function isZeroBlock(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Parses one 512-byte header; a bad checksum or number means this is not (or no longer) a tar. */
export function parseHeader(
  buf: Buffer,
  where: string,
): TarHeader | { flag: 'x' | 'g' | 'L' | 'K'; size: number } {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : buf[i]!;
  const stored = parseNumber(buf, 148, 8);
  if (stored !== sum) throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${where}: tar header checksum mismatch`);
  const size = parseNumber(buf, 124, 12);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${where}: tar header has an invalid size`);
  const flag = String.fromCharCode(buf[156]!);
  if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') return { flag, size };
  let name = cstr(buf, 0, 100);
  const magic = buf.toString('latin1', 257, 263);
  if (magic === 'ustar\0') {
    const prefix = cstr(buf, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    name,
    type: TYPES[flag] ?? 'other',
    flag,
    size,
    mode: parseNumber(buf, 100, 8),
    linkname: cstr(buf, 157, 100),
  };
}

/** pax records "len key=value\n" → map */
export function parsePax(buf: Buffer, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    const len = Number(buf.toString('latin1', i, sp));
    if (sp === -1 || !Number.isInteger(len) || len <= 0 || i + len > buf.length)
      throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${where}: malformed pax header`);
    const rec = buf.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Applies a pending pax/GNU long-name record to the header that follows it. */
export function applyExtended(
  h: TarHeader,
  pax: Record<string, string> | undefined,
  longName?: string,
  longLink?: string,
) {
  if (longName !== undefined) h.name = longName;
  if (longLink !== undefined) h.linkname = longLink;
  if (pax) {
    if (pax.path !== undefined) h.name = pax.path;
    if (pax.linkpath !== undefined) h.linkname = pax.linkpath;
    if (pax.size !== undefined) {
      const n = Number(pax.size);
      if (!Number.isSafeInteger(n) || n < 0 || !/^\d+$/.test(pax.size))
        throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `pax size "${pax.size}" is invalid`);
      h.size = n;
    }
  }
  return h;
}

function writeOctal(buf: Buffer, value: number, start: number, len: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0'), start, len - 1, 'latin1');
  buf[start + len - 1] = 0;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len)
    len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function ustar(name: string, size: number, flag: string, mode: number, mtime: number): Buffer {
  const buf = Buffer.alloc(BLOCK);
  buf.write(name, 0, 100, 'utf8');
  writeOctal(buf, mode, 100, 8);
  writeOctal(buf, 0, 108, 8);
  writeOctal(buf, 0, 116, 8);
  writeOctal(buf, size, 124, 12);
  writeOctal(buf, mtime, 136, 12);
  buf[156] = flag.charCodeAt(0);
  buf.write('ustar\x0000', 257, 8, 'latin1');
  buf.fill(32, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i]!;
  writeOctal(buf, sum, 148, 7);
  buf[155] = 32;
  return buf;
}

const MAX_OCTAL_SIZE = 0o77777777777;

/** The header block(s) for one regular file; long names and sizes ≥ 8 GiB go into a pax record. */
export function fileHeader(name: string, size: number, opts: { mode?: number; mtime?: number } = {}): Buffer {
  const mode = opts.mode ?? 0o644;
  const mtime = opts.mtime ?? 0;
  const records: string[] = [];
  if (Buffer.byteLength(name) > 100) records.push(paxRecord('path', name));
  if (size > MAX_OCTAL_SIZE) records.push(paxRecord('size', String(size)));
  const main = ustar(
    Buffer.byteLength(name) > 100 ? name.slice(0, 99) : name,
    size > MAX_OCTAL_SIZE ? 0 : size,
    '0',
    mode,
    mtime,
  );
  if (records.length === 0) return main;
  const body = Buffer.from(records.join(''));
  return Buffer.concat([
    ustar('PaxHeader', body.length, 'x', 0o644, mtime),
    body,
    Buffer.alloc(padding(body.length)),
    main,
  ]);
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
