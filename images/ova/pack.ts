// drydock ova pack: disks → streamOptimized VMDKs → one OVA (ustar: .ovf, .mf, [.cert,] disks in
// that order, as DSP0243 requires). Each file is hashed exactly once, while it is written into the
// archive. The manifest precedes the disks but needs their hashes, so its entry is written with
// placeholder bytes of the exact final length (every line has a fixed width) and overwritten in
// place once the disks are in; the certificate entry (the manifest's RSA signature, fixed length,
// then the PEM certificate) likewise. A tar header's checksum covers only the header, so the
// patched archive stays valid.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import { defaultExec, type Exec } from '../exec.ts';
import { buildDescriptor, type DescriptorInput, type OvfDisk } from './descriptor.ts';
import { FIRSTBOOT_PROPERTIES, type OvfProperty } from './properties.ts';
import { certEntry, certEntryLength, type OvaSigner } from './sign.ts';
import { BLOCK, padTo512, ustarHeader } from './tar.ts';
import { probeDisk, toStreamOptimizedVmdk } from './vmdk.ts';

export interface PackOptions {
  disks: string[];
  out: string;
  name?: string;
  cpus?: number;
  memoryMb?: number;
  properties?: readonly OvfProperty[];
  product?: DescriptorInput['product'];
  scsi?: 'lsilogic' | 'pvscsi';
  /** sign the manifest: writes the .cert entry (loadSigner checks key and certificate first) */
  signer?: OvaSigner;
  exec?: Exec;
  now?: () => number;
  /** where the intermediate VMDKs go (default: beside the output, same filesystem) */
  tmpDir?: string;
  onProgress?: (step: string, done: number, total?: number) => void;
}

interface PackedFile {
  name: string;
  size: number;
  sha256: string;
}

export interface PackResult {
  path: string;
  bytes: number;
  files: PackedFile[];
  descriptor: string;
}

const manifestLine = (name: string, hex: string) => `SHA256(${name})= ${hex}\n`;

export async function packOva(opts: PackOptions): Promise<PackResult> {
  const exec = opts.exec ?? defaultExec;
  const out = resolve(opts.out);
  if (!out.endsWith('.ova')) throw new DrydockError('USAGE', `output ${opts.out} must end in .ova`);
  if (opts.disks.length === 0) throw new DrydockError('USAGE', 'give at least one --disk');
  const name = opts.name ?? basename(out, '.ova');
  const mtime = Math.floor((opts.now?.() ?? Date.now()) / 1000);
  const progress = opts.onProgress ?? (() => {});
  const scsi = opts.scsi ?? 'pvscsi';

  // validate everything before writing a byte
  const infos = [];
  for (const d of opts.disks) infos.push(await probeDisk(exec, d));
  const descriptorBase = {
    name,
    cpus: opts.cpus ?? 4,
    memoryMb: opts.memoryMb ?? 16384,
    properties: opts.properties ?? FIRSTBOOT_PROPERTIES,
    product: opts.product,
    scsi,
  };
  // fail on bad name/cpus/memory now, not after minutes of conversion
  buildDescriptor({
    ...descriptorBase,
    disks: infos.map((_, n) => ({ fileName: `${name}-disk${n + 1}.vmdk`, fileSize: 0, capacity: 0 })),
  });
  try {
    if ((await stat(dirname(out))).isDirectory() === false) throw new Error();
  } catch {
    throw new DrydockError('USAGE', `output folder ${dirname(out)} does not exist`);
  }

  const work = await mkdtemp(join(opts.tmpDir ?? dirname(out), `.${basename(out)}.tmp-`));
  const partial = join(work, 'out.ova');
  try {
    const disks: (OvfDisk & { path: string })[] = [];
    for (const [n, src] of opts.disks.entries()) {
      const info = infos[n]!;
      const fileName = `${name}-disk${n + 1}.vmdk`;
      const path = join(work, fileName);
      await toStreamOptimizedVmdk(
        exec,
        src,
        info.format,
        path,
        (pct) => progress(`convert ${basename(src)}`, Math.round(pct), 100),
        scsi,
      );
      const st = await stat(path);
      disks.push({ fileName, fileSize: st.size, capacity: info.virtualSize, path });
    }

    const descriptor = buildDescriptor({ ...descriptorBase, disks });
    const ovfName = `${name}.ovf`;
    const mfName = `${name}.mf`;
    const certName = `${name}.cert`;
    const ovfBytes = Buffer.from(descriptor, 'utf8');
    const ovfHash = createHash('sha256').update(ovfBytes).digest('hex');
    const placeholderHex = '0'.repeat(64);
    const mfLength =
      manifestLine(ovfName, ovfHash).length +
      disks.reduce((s, d) => s + manifestLine(d.fileName, placeholderHex).length, 0);

    const fh = await open(partial, 'wx', 0o644);
    const files: PackedFile[] = [];
    let pos = 0;
    const write = async (b: Buffer) => {
      await fh.write(b, 0, b.length, pos);
      pos += b.length;
    };
    const pad = (n: number) => (padTo512(n) ? write(Buffer.alloc(padTo512(n))) : Promise.resolve());
    try {
      await write(ustarHeader(ovfName, ovfBytes.length, mtime));
      await write(ovfBytes);
      await pad(ovfBytes.length);
      files.push({ name: ovfName, size: ovfBytes.length, sha256: ovfHash });

      await write(ustarHeader(mfName, mfLength, mtime));
      const mfOffset = pos;
      await write(Buffer.alloc(mfLength, 0x20));
      await pad(mfLength);

      let certOffset = -1;
      const certLength = opts.signer ? certEntryLength(opts.signer, mfName) : 0;
      if (opts.signer) {
        await write(ustarHeader(certName, certLength, mtime));
        certOffset = pos;
        await write(Buffer.alloc(certLength, 0x20));
        await pad(certLength);
      }

      const total = disks.reduce((s, d) => s + d.fileSize, 0);
      let done = 0;
      for (const d of disks) {
        await write(ustarHeader(d.fileName, d.fileSize, mtime));
        const h = createHash('sha256');
        let n = 0;
        for await (const chunk of createReadStream(d.path, {
          highWaterMark: 4 * 1024 * 1024,
        }) as AsyncIterable<Buffer>) {
          h.update(chunk);
          await write(chunk);
          n += chunk.length;
          done += chunk.length;
          progress('write ova', done, total);
        }
        if (n !== d.fileSize)
          throw new DrydockError('TOOL_FAILED', `${d.fileName} changed size while being packed`);
        await pad(n);
        files.push({ name: d.fileName, size: n, sha256: h.digest('hex') });
        await rm(d.path);
      }
      await write(Buffer.alloc(2 * BLOCK));

      const mf = Buffer.from(files.map((f) => manifestLine(f.name, f.sha256)).join(''), 'utf8');
      if (mf.length !== mfLength) throw new DrydockError('INTERNAL', 'manifest length changed');
      await fh.write(mf, 0, mf.length, mfOffset);
      const after: PackedFile[] = [
        { name: mfName, size: mf.length, sha256: createHash('sha256').update(mf).digest('hex') },
      ];
      if (opts.signer) {
        const cert = certEntry(opts.signer, mfName, mf);
        if (cert.length !== certLength) throw new DrydockError('INTERNAL', 'certificate length changed');
        await fh.write(cert, 0, cert.length, certOffset);
        after.push({
          name: certName,
          size: cert.length,
          sha256: createHash('sha256').update(cert).digest('hex'),
        });
      }
      files.splice(1, 0, ...after);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(partial, out);
    return { path: out, bytes: pos, files, descriptor };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
