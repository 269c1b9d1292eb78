// Hostile bundles for tests, made with tar-stream (an independent tar writer): unpack a good
// bundle into entries, change them, pack them again.
import { readFile, writeFile } from 'node:fs/promises';
import tar from 'tar-stream';

export interface Entry {
  name: string;
  type?: 'file' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'directory' | 'fifo';
  linkname?: string;
  /** header size when it should differ from data (only for lying headers) */
  data: Buffer;
}

export async function unpack(path: string): Promise<Entry[]> {
  const extract = tar.extract();
  const out: Entry[] = [];
  const done = (async () => {
    for await (const e of extract) {
      const parts: Buffer[] = [];
      for await (const c of e) parts.push(c as Buffer);
      out.push({ name: e.header.name, type: 'file', data: Buffer.concat(parts) });
    }
  })();
  extract.end(await readFile(path));
  await done;
  return out;
}

export async function pack(entries: Entry[], out: string): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file')
      p.entry({ name: e.name, size: e.data.length, mode: 0o644, mtime: new Date(0) }, e.data);
    else
      p.entry({
        name: e.name,
        type,
        mode: 0o644,
        mtime: new Date(0),
        ...(e.linkname ? { linkname: e.linkname } : {}),
        ...(type === 'character-device' || type === 'block-device' ? { devmajor: 1, devminor: 3 } : {}),
      });
  }
  p.finalize();
  await collected;
  const buf = Buffer.concat(chunks);
  await writeFile(out, buf);
  return buf;
}

/** Flips the lowest bit of one byte. */
export function flip(buf: Buffer, at: number): Buffer {
  const b = Buffer.from(buf);
  b[at]! ^= 1;
  return b;
}

/** Flips a bit inside the signed part of a metadata file: the last digit of its expiry year. */
export function flipSigned(meta: Buffer): Buffer {
  const at = meta.indexOf('"expires":"') + '"expires":"'.length + 3;
  if (at < 14) throw new Error('no expires field');
  return flip(meta, at);
}
