// drydock ova verify: what vSphere checks when it imports an OVA, checked here first.
//   order      the descriptor (.ovf) is the first entry, the manifest (.mf) the second, the
//              certificate (.cert), when there is one, the third (DSP0243 §5.3)
//   manifest   every entry but .mf/.cert is listed, every listed file is there, digests match
//   signature  the .cert's first line is the RSA signature of the .mf by its first certificate
//   chain      with a CA: each certificate is issued by the next, the last by the CA; all valid now
// The OVA is read by offset and each entry streamed through its hash: disks of many GiB never
// sit in memory.
import { createHash, verify as cryptoVerify, type X509Certificate } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { DrydockError } from '../../core/index.ts';
import { parseCertificates } from './sign.ts';
import { BLOCK } from './tar.ts';

export interface OvaEntry {
  name: string;
  offset: number;
  size: number;
}

export interface VerifyResult {
  entries: string[];
  manifest: { algorithm: string; files: number };
  signed: boolean;
  /** subject of the signing certificate, when signed */
  signer?: string;
  /** true when --ca was given and the chain reaches it */
  trusted: boolean;
}

const layout = (m: string) => new DrydockError('OVA_LAYOUT_INVALID', m);

function tarNumber(h: Buffer, off: number, len: number): number {
  if (h[off]! & 0x80) {
    let v = 0n;
    for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(h[i]!);
    return Number(v);
  }
  const s = h
    .toString('ascii', off, off + len)
    .replace(/[\0 ]+$/g, '')
    .trim();
  if (!/^[0-7]*$/.test(s)) throw layout(`bad tar number "${s}"`);
  return s === '' ? 0 : Number.parseInt(s, 8);
}

export async function readOvaEntries(fh: FileHandle, fileSize: number): Promise<OvaEntry[]> {
  const out: OvaEntry[] = [];
  const h = Buffer.alloc(BLOCK);
  let pos = 0;
  for (;;) {
    if (pos + BLOCK > fileSize) {
      if (pos === fileSize && out.length) return out; // no end blocks: tolerated, as GNU tar does
      throw layout(`the archive ends inside a header at byte ${pos}`);
    }
    await fh.read(h, 0, BLOCK, pos);
    if (h.every((b) => b === 0)) return out;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== tarNumber(h, 148, 8))
      throw layout(`bad tar header checksum at byte ${pos} (not a tar archive?)`);
    const type = String.fromCharCode(h[156]!);
    const name = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
    const prefix =
      h.toString('ascii', 257, 262) === 'ustar' ? h.toString('utf8', 345, 500).replace(/\0.*$/s, '') : '';
    const full = prefix ? `${prefix}/${name}` : name;
    if (type !== '0' && type !== '\0')
      throw layout(`entry "${full}" is not a plain file (tar type "${type}"); an OVA holds plain files only`);
    if (full.includes('/')) throw layout(`entry "${full}" is in a folder; an OVA's files sit at its top`);
    const size = tarNumber(h, 124, 12);
    if (pos + BLOCK + size > fileSize) throw layout(`entry "${full}" is cut off (${size} bytes declared)`);
    if (out.some((e) => e.name === full)) throw layout(`entry "${full}" appears twice`);
    out.push({ name: full, offset: pos + BLOCK, size });
    pos += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
}

async function readEntry(fh: FileHandle, e: OvaEntry, limit = 16 * 1024 * 1024): Promise<Buffer> {
  if (e.size > limit) throw layout(`${e.name} is ${e.size} bytes; that is too large for a text entry`);
  const b = Buffer.alloc(e.size);
  await fh.read(b, 0, e.size, e.offset);
  return b;
}

async function digestEntry(path: string, e: OvaEntry, algorithm: string): Promise<string> {
  const h = createHash(algorithm);
  if (e.size === 0) return h.digest('hex');
  const s = createReadStream(path, { start: e.offset, end: e.offset + e.size - 1, highWaterMark: 4 << 20 });
  for await (const c of s as AsyncIterable<Buffer>) h.update(c);
  return h.digest('hex');
}

const ALGORITHMS: Record<string, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };
const LINE = /^(SHA1|SHA256|SHA512)\((.+)\)= ?([0-9a-fA-F]+)$/;

function checkChain(chain: X509Certificate[], cas: X509Certificate[], now: number): void {
  const valid = (c: X509Certificate) => Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
  for (const c of chain)
    if (!valid(c))
      throw new DrydockError(
        'OVA_CERT_UNTRUSTED',
        `certificate "${c.subject}" is valid from ${c.validFrom} to ${c.validTo}, not now`,
      );
  for (let i = 0; i + 1 < chain.length; i++) {
    const [c, issuer] = [chain[i]!, chain[i + 1]!];
    if (!issuer.ca || !c.checkIssued(issuer) || !c.verify(issuer.publicKey))
      throw new DrydockError(
        'OVA_CERT_UNTRUSTED',
        `certificate "${c.subject}" is not issued by "${issuer.subject}"`,
      );
  }
  const last = chain[chain.length - 1]!;
  const anchored = cas.some(
    (ca) =>
      last.raw.equals(ca.raw) || (ca.ca && valid(ca) && last.checkIssued(ca) && last.verify(ca.publicKey)),
  );
  if (!anchored)
    throw new DrydockError(
      'OVA_CERT_UNTRUSTED',
      `certificate "${last.subject}" does not chain to the given CA`,
    );
}

export async function verifyOva(
  path: string,
  opts: {
    ca?: string;
    now?: () => number;
    onProgress?: (step: string, done: number, total?: number) => void;
  } = {},
): Promise<VerifyResult> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    throw new DrydockError('BUILD_INPUT_MISSING', `${path} cannot be read`);
  }
  const cas = opts.ca
    ? parseCertificates(
        await readFile(opts.ca, 'utf8').catch(() => {
          throw new DrydockError('BUILD_INPUT_MISSING', `CA file ${opts.ca} cannot be read`);
        }),
        opts.ca,
      )
    : [];
  try {
    const entries = await readOvaEntries(fh, (await fh.stat()).size);
    const names = entries.map((e) => e.name);
    // order
    if (!names[0]?.endsWith('.ovf'))
      throw layout(`the first entry is "${names[0] ?? '(none)'}"; the OVF descriptor (.ovf) must come first`);
    if (names.filter((n) => n.endsWith('.ovf')).length > 1) throw layout('more than one .ovf descriptor');
    const mfAt = names.findIndex((n) => n.endsWith('.mf'));
    if (mfAt < 0)
      throw new DrydockError(
        'OVA_MANIFEST_MISMATCH',
        'no manifest (.mf): nothing says what the files should hash to',
      );
    if (mfAt !== 1)
      throw layout(`the manifest ${names[mfAt]} is entry ${mfAt + 1}; it must come right after the .ovf`);
    const certAt = names.findIndex((n) => n.endsWith('.cert'));
    if (certAt >= 0 && certAt !== 2)
      throw layout(
        `the certificate ${names[certAt]} is entry ${certAt + 1}; it must come right after the .mf`,
      );

    // manifest
    const mfEntry = entries[1]!;
    const mf = await readEntry(fh, mfEntry);
    const listed = new Map<string, { algorithm: string; hex: string }>();
    for (const raw of mf.toString('utf8').split('\n')) {
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '') continue;
      const m = LINE.exec(line);
      if (!m)
        throw new DrydockError('OVA_MANIFEST_MISMATCH', `manifest line "${line}" is not ALG(file)= hex`);
      if (listed.has(m[2]!)) throw new DrydockError('OVA_MANIFEST_MISMATCH', `manifest lists ${m[2]} twice`);
      listed.set(m[2]!, { algorithm: ALGORITHMS[m[1]!]!, hex: m[3]!.toLowerCase() });
    }
    const content = entries.filter((_e, i) => i !== 1 && i !== certAt);
    for (const e of content)
      if (!listed.has(e.name))
        throw new DrydockError('OVA_MANIFEST_MISMATCH', `${e.name} is in the OVA but not in the manifest`);
    for (const n of listed.keys())
      if (!names.includes(n))
        throw new DrydockError('OVA_MANIFEST_MISMATCH', `the manifest lists ${n}, which the OVA lacks`);
    const total = content.reduce((s, e) => s + e.size, 0);
    let done = 0;
    for (const e of content) {
      const want = listed.get(e.name)!;
      const got = await digestEntry(path, e, want.algorithm);
      if (got !== want.hex)
        throw new DrydockError(
          'OVA_MANIFEST_MISMATCH',
          `${e.name} hashes to ${got}; the manifest says ${want.hex}`,
          {
            details: { file: e.name },
          },
        );
      done += e.size;
      opts.onProgress?.('verify digests', done, total);
    }
    const algorithms = [...new Set([...listed.values()].map((v) => v.algorithm))];

    // signature
    let signed = false;
    let signer: string | undefined;
    let trusted = false;
    if (certAt >= 0) {
      const text = (await readEntry(fh, entries[certAt]!)).toString('utf8');
      const first = text.split('\n', 1)[0]!.replace(/\r$/, '');
      const m = LINE.exec(first);
      if (!m)
        throw new DrydockError(
          'OVA_SIGNATURE_INVALID',
          `the certificate file's first line "${first}" is not ALG(file.mf)= signature`,
        );
      if (m[2] !== mfEntry.name)
        throw new DrydockError(
          'OVA_SIGNATURE_INVALID',
          `the signature is for ${m[2]}, not for the manifest ${mfEntry.name}`,
        );
      let chain: X509Certificate[];
      try {
        chain = parseCertificates(text, entries[certAt]!.name);
      } catch (err) {
        throw new DrydockError('OVA_SIGNATURE_INVALID', (err as Error).message);
      }
      const ok = cryptoVerify(ALGORITHMS[m[1]!]!, mf, chain[0]!.publicKey, Buffer.from(m[3]!, 'hex'));
      if (!ok)
        throw new DrydockError(
          'OVA_SIGNATURE_INVALID',
          `the manifest's signature does not verify with "${chain[0]!.subject}"`,
        );
      signed = true;
      signer = chain[0]!.subject;
      if (cas.length) {
        checkChain(chain, cas, (opts.now ?? Date.now)());
        trusted = true;
      }
    } else if (cas.length)
      throw new DrydockError(
        'OVA_SIGNATURE_INVALID',
        'the OVA is not signed (no .cert entry); a CA was given to check it against',
      );

    return {
      entries: names,
      manifest: { algorithm: algorithms.join(','), files: listed.size },
      signed,
      signer,
      trusted,
    };
  } finally {
    await fh.close();
  }
}
