// The streaming tar reader against odd chunkings: the same archive fed in 1-byte, 511-byte and
// 700-byte pieces, with the feeding buffer reused between pieces (as readBundle does), reads the same.
import { describe, expect, it } from 'vitest';
import { END_OF_ARCHIVE, fileHeader, padding, readTarStream } from '../../updater/oci/index.ts';

function archive(files: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of files)
    parts.push(fileHeader(name, data.length), data, Buffer.alloc(padding(data.length)));
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

async function* reusedChunks(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  const shared = Buffer.alloc(size);
  for (let i = 0; i < buf.length; i += size) {
    const n = buf.copy(shared, 0, i, Math.min(buf.length, i + size));
    yield shared.subarray(0, n);
  }
}

describe('readTarStream', () => {
  const files: [string, Buffer][] = [
    ['a.json', Buffer.from('{"a":1}')],
    [`long/${'x'.repeat(150)}`, Buffer.from('long name via pax')],
    ['blob', Buffer.alloc(3000, 7)],
  ];
  const tar = archive(files);
  for (const size of [1, 511, 700, 4096])
    it(`reads the same entries in ${size}-byte reused chunks`, async () => {
      const got: [string, string][] = [];
      for await (const e of readTarStream(reusedChunks(tar, size))) {
        const parts: Buffer[] = [];
        for await (const c of e.body) parts.push(Buffer.from(c));
        got.push([e.header.name, Buffer.concat(parts).toString('hex')]);
      }
      expect(got).toEqual(files.map(([n, d]) => [n, d.toString('hex')]));
    });
});
