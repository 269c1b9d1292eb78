// An OCI image layout, as skopeo and umoci write it: a folder, or the same as an (uncompressed)
// tar archive. For an archive we index the entries once by seeking from header to header, then
// read any blob directly at its offset, so nothing is extracted and nothing is held in memory.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DrydockError } from '../../core/index.ts';
import { applyExtended, BLOCK, isZeroBlock, padding, parseHeader, parsePax } from './tar.ts';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

export interface OciLayout {
  /** where it came from, for messages */
  source: string;
  readFile(name: string, maxBytes: number): Promise<Buffer>;
  size(digest: string): Promise<number>;
  /** the blob bytes, not yet verified: whoever copies them hashes while copying */
  open(digest: string): Readable;
  /** where the blob's bytes lie (a file, or a range of the archive), for copying without streams */
  locate(digest: string): Promise<{ path: string; offset: number; size: number }>;
}

function blobName(digest: string, source: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new DrydockError('IMAGE_INVALID', `${source}: unsupported digest "${digest}" (only sha256)`);
  return `blobs/sha256/${m[1]}`;
}

/** A small blob read whole and checked against its digest and declared size. */
export async function readVerified(
  layout: OciLayout,
  digest: string,
  size: number,
  maxBytes = 4 << 20,
): Promise<Buffer> {
  if (size > maxBytes)
    throw new DrydockError('IMAGE_INVALID', `${layout.source}: ${digest} is larger than ${maxBytes} bytes`);
  const data = await layout.readFile(blobName(digest, layout.source), maxBytes);
  if (data.length !== size)
    throw new DrydockError(
      'IMAGE_INVALID',
      `${layout.source}: ${digest} has ${data.length} bytes, ${size} declared`,
    );
  const got = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  if (got !== digest) throw new DrydockError('IMAGE_INVALID', `${layout.source}: ${digest} hashes to ${got}`);
  return data;
}

function dirLayout(dir: string): OciLayout {
  const path = (name: string) => join(dir, name);
  return {
    source: dir,
    async readFile(name, maxBytes) {
      const s = await stat(path(name)).catch(() => null);
      if (!s?.isFile()) throw new DrydockError('IMAGE_INVALID', `${dir}: ${name} is missing`);
      if (s.size > maxBytes) throw new DrydockError('IMAGE_INVALID', `${dir}: ${name} is too large`);
      return readFile(path(name));
    },
    async size(digest) {
      const s = await stat(path(blobName(digest, dir))).catch(() => null);
      if (!s?.isFile()) throw new DrydockError('IMAGE_INVALID', `${dir}: blob ${digest} is missing`);
      return s.size;
    },
    open(digest) {
      return createReadStream(path(blobName(digest, dir)), { highWaterMark: 1 << 20 });
    },
    async locate(digest) {
      const p = path(blobName(digest, dir));
      const s = await stat(p).catch(() => null);
      if (!s?.isFile()) throw new DrydockError('IMAGE_INVALID', `${dir}: blob ${digest} is missing`);
      return { path: p, offset: 0, size: s.size };
    },
  };
}

async function tarLayout(file: string): Promise<OciLayout> {
  const entries = new Map<string, { offset: number; size: number }>();
  const fh = await open(file, 'r');
  try {
    const { size: total } = await fh.stat();
    const block = Buffer.alloc(BLOCK);
    let pos = 0;
    let pax: Record<string, string> | undefined;
    let longName: string | undefined;
    while (pos + BLOCK <= total) {
      await fh.read(block, 0, BLOCK, pos);
      if (isZeroBlock(block)) break;
      const h = parseHeader(block, `${file} at byte ${pos}`);
      pos += BLOCK;
      if (!('name' in h)) {
        if (h.size > 1 << 20) throw new DrydockError('IMAGE_INVALID', `${file}: oversized extended header`);
        const data = Buffer.alloc(h.size);
        await fh.read(data, 0, h.size, pos);
        if (h.flag === 'x') pax = parsePax(data, file);
        if (h.flag === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
        pos += h.size + padding(h.size);
        continue;
      }
      const e = applyExtended(h, pax, longName);
      pax = longName = undefined;
      if (pos + e.size > total) throw new DrydockError('IMAGE_INVALID', `${file}: the archive is truncated`);
      // only regular files can be blobs; links are not followed
      if (e.type === 'file') entries.set(e.name.replace(/^(\.\/)+/, ''), { offset: pos, size: e.size });
      pos += e.size + padding(e.size);
    }
  } finally {
    await fh.close();
  }
  const entry = (name: string) => {
    const e = entries.get(name);
    if (!e) throw new DrydockError('IMAGE_INVALID', `${file}: ${name} is missing from the archive`);
    return e;
  };
  return {
    source: file,
    async readFile(name, maxBytes) {
      const e = entry(name);
      if (e.size > maxBytes) throw new DrydockError('IMAGE_INVALID', `${file}: ${name} is too large`);
      const f = await open(file, 'r');
      try {
        const buf = Buffer.alloc(e.size);
        await f.read(buf, 0, e.size, e.offset);
        return buf;
      } finally {
        await f.close();
      }
    },
    async size(digest) {
      return entry(blobName(digest, file)).size;
    },
    open(digest) {
      const e = entry(blobName(digest, file));
      if (e.size === 0) return Readable.from([]);
      return createReadStream(file, { start: e.offset, end: e.offset + e.size - 1, highWaterMark: 1 << 20 });
    },
    async locate(digest) {
      const e = entry(blobName(digest, file));
      return { path: file, offset: e.offset, size: e.size };
    },
  };
}

/** Opens a layout folder or archive; checks the oci-layout marker. */
export async function openLayout(path: string): Promise<OciLayout> {
  const s = await stat(path).catch(() => null);
  if (!s) throw new DrydockError('SPEC_FILE_MISSING', `image layout ${path} does not exist`);
  const layout = s.isDirectory() ? dirLayout(path) : await tarLayout(path);
  let marker: unknown;
  try {
    marker = JSON.parse((await layout.readFile('oci-layout', 4096)).toString('utf8'));
  } catch (e) {
    if (e instanceof DrydockError)
      throw new DrydockError('IMAGE_INVALID', `${path} is not an OCI image layout (no oci-layout file)`);
    throw new DrydockError('IMAGE_INVALID', `${path}: oci-layout is not JSON`);
  }
  const v = (marker as { imageLayoutVersion?: unknown })?.imageLayoutVersion;
  if (typeof v !== 'string' || !v.startsWith('1.'))
    throw new DrydockError('IMAGE_INVALID', `${path}: unsupported imageLayoutVersion ${String(v)}`);
  return layout;
}
