// Streaming tar reader: yields each entry with a body that hands on slices of the chunks read (no
// copies). It insists on the end-of-archive marker (else TRUNCATED) and on nothing but zero padding
// after it (else TRAILING_DATA), so a cut or appended file never passes as a whole archive.
import { DrydockError } from '../../core/index.ts';
import { applyExtended, BLOCK, isZeroBlock, padding, parseHeader, parsePax, type TarHeader } from './tar.ts';

class ChunkReader {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  /** bytes consumed so far */
  position = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array>) {
    this.it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.buf.length === 0) {
      const r = await this.it.next();
      if (r.done) return false;
      this.buf = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
    return true;
  }

  /** Exactly n bytes, or null at a clean end of input; a partial read is a truncation. */
  async readExact(n: number): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    if (this.buf.length >= n) {
      const out = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      this.position += n;
      return out;
    }
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      if (!(await this.fill()))
        throw new DrydockError('BUNDLE_TRUNCATED', `the archive ends mid-record at byte ${this.position}`);
      const take = Math.min(n - got, this.buf.length);
      // copied: the source may reuse the chunk's memory for its next read
      parts.push(Buffer.from(this.buf.subarray(0, take)));
      this.buf = this.buf.subarray(take);
      this.position += take;
      got += take;
    }
    return Buffer.concat(parts, n);
  }

  /** n bytes as slices of the input chunks. */
  async *take(n: number, onChunk?: (len: number) => void): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill()))
        throw new DrydockError(
          'BUNDLE_TRUNCATED',
          `the archive ends inside an entry at byte ${this.position}`,
        );
      const len = Math.min(left, this.buf.length);
      const out = this.buf.subarray(0, len);
      this.buf = this.buf.subarray(len);
      this.position += len;
      left -= len;
      onChunk?.(len);
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      /* discard */
    }
  }

  /** Everything left must be zero bytes, and not more than `max` of them. */
  async expectZerosToEnd(max: number): Promise<void> {
    let seen = 0;
    while (await this.fill()) {
      const start = this.position;
      if (!isZeroBlock(this.buf) || seen + this.buf.length > max)
        throw new DrydockError(
          'BUNDLE_TRAILING_DATA',
          `data follows the end of the archive at byte ${start}`,
        );
      seen += this.buf.length;
      this.position += this.buf.length;
      this.buf = Buffer.alloc(0);
    }
  }
}

export interface TarEntry {
  header: TarHeader;
  /** byte offset of the entry's data in the archive */
  offset: number;
  body: AsyncIterable<Buffer>;
}

export interface TarReadOptions {
  onBytes?: (n: number) => void;
}

/** pax / GNU long-name records larger than this are refused */
const MAX_EXTENDED_BYTES = 64 * 1024;
/** zero padding allowed after the end marker (tar pads to 10 KiB records) */
const MAX_TRAILING_ZEROS = 64 * 1024;

export async function* readTarStream(
  source: AsyncIterable<Buffer | Uint8Array>,
  opts: TarReadOptions = {},
): AsyncGenerator<TarEntry> {
  const r = new ChunkReader(source);
  let pax: Record<string, string> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const at = r.position;
    const block = await r.readExact(BLOCK);
    if (!block)
      throw new DrydockError('BUNDLE_TRUNCATED', 'the archive ends without its end-of-archive marker');
    if (isZeroBlock(block)) {
      const second = await r.readExact(BLOCK);
      if (!second)
        throw new DrydockError('BUNDLE_TRUNCATED', 'the archive ends inside its end-of-archive marker');
      if (!isZeroBlock(second))
        throw new DrydockError(
          'BUNDLE_NOT_A_BUNDLE',
          `a lone zero block at byte ${at} is not an end-of-archive marker`,
        );
      await r.expectZerosToEnd(MAX_TRAILING_ZEROS);
      return;
    }
    const h = parseHeader(block, `tar header at byte ${at}`);
    if (!('name' in h)) {
      if (h.size > MAX_EXTENDED_BYTES)
        throw new DrydockError('BUNDLE_TOO_LARGE', `an extended tar header at byte ${at} is too large`);
      // copied: the chunk under it may be reused once we read on
      const data = Buffer.from((await r.readExact(h.size)) ?? Buffer.alloc(0));
      if (data.length !== h.size)
        throw new DrydockError('BUNDLE_TRUNCATED', 'the archive ends inside a tar header');
      await r.skip(padding(h.size));
      if (h.flag === 'x') pax = parsePax(data, `pax header at byte ${at}`);
      else if (h.flag === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
      else if (h.flag === 'K') longLink = data.toString('utf8').replace(/\0+$/, '');
      // 'g' (global pax) carries nothing we use
      continue;
    }
    const header = applyExtended(h, pax, longName, longLink);
    pax = longName = longLink = undefined;
    let left = header.size;
    const body = r.take(header.size, (n) => {
      left -= n;
      opts.onBytes?.(n);
    });
    yield { header, offset: r.position, body };
    // whatever the consumer did not read is skipped, so it can stop early without losing sync
    if (left > 0) await r.skip(left);
    await r.skip(padding(header.size));
  }
}
