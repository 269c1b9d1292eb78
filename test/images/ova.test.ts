// The OVA writer with the real qemu-img and xmllint (DMTF OVF 1.1 schema in third_party/dmtf-ovf).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTING_KEYS } from '../../appliance/index.ts';
import { DrydockError } from '../../core/index.ts';
import {
  DEFAULT_BASE_SPEC,
  defaultExec,
  type Exec,
  FIRSTBOOT_PROPERTIES,
  packOva,
  readVmdkDescriptor,
  ustarHeader,
} from '../../images/index.ts';

const SCHEMA = fileURLToPath(new URL('../../third_party/dmtf-ovf/dsp8023_1.1.1.xsd', import.meta.url));
let dir: string;
let root: string;
let data: string;

function tarEntries(path: string): { name: string; offset: number; size: number }[] {
  const buf = readFileSync(path);
  const out = [];
  let pos = 0;
  while (pos + 512 <= buf.length) {
    const h = buf.subarray(pos, pos + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.toString('ascii', 0, 100).replace(/\0.*$/s, '');
    expect(h.toString('ascii', 257, 262)).toBe('ustar');
    const size = Number.parseInt(h.toString('ascii', 124, 135), 8);
    out.push({ name, offset: pos + 512, size });
    pos += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'drydock-ova-'));
  // a small GPT-less ext4 "root" with content, and a blank data disk
  root = join(dir, 'root.raw');
  execFileSync('truncate', ['-s', '64M', root]);
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-d', resolve('images/ova'), root]);
  data = join(dir, 'data.raw');
  execFileSync('truncate', ['-s', '32M', data]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ova pack', () => {
  it('writes .ovf, .mf, disks in order; manifest hashes, schema and VMDK format check out', async () => {
    const out = join(dir, 'demo.ova');
    const steps = new Set<string>();
    const r = await packOva({
      disks: [root, data],
      out,
      name: 'drydock-demo',
      cpus: 2,
      memoryMb: 4096,
      product: { vendor: 'Example & Co', version: '1.0.0' },
      onProgress: (s) => steps.add(s),
    });
    expect(statSync(out).size).toBe(r.bytes);
    expect(steps.has('write ova')).toBe(true);

    const entries = tarEntries(out);
    expect(entries.map((e) => e.name)).toEqual([
      'drydock-demo.ovf',
      'drydock-demo.mf',
      'drydock-demo-disk1.vmdk',
      'drydock-demo-disk2.vmdk',
    ]);
    // GNU tar agrees on the listing
    expect(execFileSync('tar', ['tf', out], { encoding: 'utf8' }).trim().split('\n')).toEqual(
      entries.map((e) => e.name),
    );

    const buf = readFileSync(out);
    const body = (name: string) => {
      const e = entries.find((x) => x.name === name)!;
      return buf.subarray(e.offset, e.offset + e.size);
    };
    const mf = body('drydock-demo.mf').toString('utf8');
    const lines = mf.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      const m = /^SHA256\((.+)\)= ([0-9a-f]{64})$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(createHash('sha256').update(body(m![1]!)).digest('hex')).toBe(m![2]);
    }

    const ovfPath = join(dir, 'drydock-demo.ovf');
    writeFileSync(ovfPath, body('drydock-demo.ovf'));
    // the DMTF schema is kept in the repository (third_party/dmtf-ovf, see its README)
    expect(existsSync(SCHEMA), `DMTF OVF schema not found at ${SCHEMA}`).toBe(true);
    const lint = spawnSync('xmllint', ['--noout', '--nonet', '--schema', SCHEMA, ovfPath], {
      encoding: 'utf8',
    });
    expect(lint.stderr).toContain('validates');
    expect(lint.status).toBe(0);

    const ovf = body('drydock-demo.ovf').toString('utf8');
    // both OVF environment transports, and the CD-ROM the ISO transport needs
    expect(ovf).toContain('<VirtualHardwareSection ovf:transport="iso com.vmware.guestInfo">');
    expect(ovf).toMatch(
      /<Item ovf:required="false">\s*<rasd:AddressOnParent>0<\/rasd:AddressOnParent>\s*<rasd:AutomaticAllocation>false<\/rasd:AutomaticAllocation>\s*<rasd:ElementName>CD\/DVD drive 1<\/rasd:ElementName>\s*<rasd:InstanceID>(\d+)<\/rasd:InstanceID>\s*<rasd:Parent>(\d+)<\/rasd:Parent>\s*<rasd:ResourceSubType>vmware.cdrom.remotepassthrough<\/rasd:ResourceSubType>\s*<rasd:ResourceType>15<\/rasd:ResourceType>/,
    );
    const ide = /<rasd:InstanceID>(\d+)<\/rasd:InstanceID>\s*<rasd:ResourceType>5<\/rasd:ResourceType>/.exec(
      ovf,
    );
    expect(ide, 'an IDE controller').not.toBeNull();
    expect(ovf).toContain(
      `<rasd:Parent>${ide![1]}</rasd:Parent>\n        <rasd:ResourceSubType>vmware.cdrom`,
    );
    expect(ovf).toContain('<rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>');
    expect(ovf).toContain('<rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>');
    expect(ovf).toContain('<vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>');
    // the reason for the conservative hardware version sits beside it
    expect(ovf).toMatch(
      /vmx-14<\/vssd:VirtualSystemType>\n\s*<!-- vmx-14 \(ESXi 6\.7\+\): the oldest version with every device/,
    );
    expect(ovf).toContain('vmw:key="disk.enableUUID" vmw:value="TRUE"');
    // the guest OS is what images/base builds (Debian 13)
    expect(DEFAULT_BASE_SPEC.suite).toBe('trixie');
    expect(ovf).toContain(
      '<OperatingSystemSection ovf:id="96" ovf:version="13" vmw:osType="debian13_64Guest">',
    );
    expect(ovf).toContain('<rasd:VirtualQuantity>4096</rasd:VirtualQuantity>');
    expect(ovf).toContain('Example &amp; Co');
    // the vApp options are exactly the appliance's first-boot settings
    expect(FIRSTBOOT_PROPERTIES.map((p) => p.key)).toEqual([...SETTING_KEYS]);
    for (const p of FIRSTBOOT_PROPERTIES) expect(ovf).toContain(`ovf:key="${p.key}"`);
    expect(ovf).toMatch(/ovf:key="admin_password"[^>]*ovf:password="true"/);
    expect(ovf.match(/ovf:password="true"/g)).toHaveLength(1);
    expect(ovf).toContain('ovf:capacity="67108864"');
    expect(ovf).toContain('ovf:capacity="33554432"');

    for (const n of [1, 2]) {
      const vmdk = join(dir, `disk${n}.vmdk`);
      writeFileSync(vmdk, body(`drydock-demo-disk${n}.vmdk`));
      const info = JSON.parse(
        execFileSync('qemu-img', ['info', '--output=json', vmdk], { encoding: 'utf8' }),
      );
      expect(info.format).toBe('vmdk');
      expect(info['format-specific'].data['create-type']).toBe('streamOptimized');
      // the VMDK names the controller the OVF declares (PVSCSI = VirtualSCSI)
      expect((await readVmdkDescriptor(vmdk)).text).toMatch(/^ddb\.adapterType = "pvscsi"$/m);
    }
    // the root disk's content survives the round trip
    const back = join(dir, 'back.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', join(dir, 'disk1.vmdk'), back]);
    expect(execFileSync('cmp', [back, root]).length).toBe(0);
  });

  it('--scsi lsilogic: the OVF declares LSI Logic and the VMDK says lsilogic', async () => {
    const out = join(dir, 'lsi.ova');
    const r = await packOva({ disks: [data], out, scsi: 'lsilogic', memoryMb: 1024 });
    expect(r.descriptor).toContain('<rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>');
    expect(r.descriptor).not.toContain('VirtualSCSI');
    const e = tarEntries(out).find((x) => x.name === 'lsi-disk1.vmdk')!;
    const vmdk = join(dir, 'lsi.vmdk');
    writeFileSync(vmdk, readFileSync(out).subarray(e.offset, e.offset + e.size));
    expect((await readVmdkDescriptor(vmdk)).text).toMatch(/^ddb\.adapterType = "lsilogic"$/m);
    rmSync(out);
    rmSync(vmdk);
  });

  async function refused(opts: Parameters<typeof packOva>[0], code: string) {
    const before = readdirSync(dir).sort();
    const err = await packOva(opts).catch((e) => e);
    expect(err).toBeInstanceOf(DrydockError);
    expect((err as DrydockError).code).toBe(code);
    expect((err as DrydockError).message.length).toBeLessThan(200);
    expect(readdirSync(dir).sort()).toEqual(before);
    return err as DrydockError;
  }

  it('refuses a missing disk, a non-disk file, bad sizes, and leaves nothing behind', async () => {
    const out = join(dir, 'bad.ova');
    expect((await refused({ disks: [join(dir, 'nope.raw')], out }, 'BUILD_INPUT_MISSING')).message).toContain(
      'does not exist',
    );
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a disk\n'.repeat(100000));
    expect((await refused({ disks: [text], out }, 'IMAGE_INVALID')).message).toContain('not a disk image');
    await refused({ disks: [root], out, memoryMb: 100 }, 'USAGE');
    await refused({ disks: [root], out, cpus: 0 }, 'USAGE');
    await refused({ disks: [root], out, name: 'bad name/x' }, 'USAGE');
    await refused({ disks: [root], out: join(dir, 'x.tar') }, 'USAGE');
    await refused({ disks: [root], out: join(dir, 'missing-dir', 'x.ova') }, 'USAGE');
  });

  it('leaves no partial OVA when the conversion fails half way', async () => {
    const failing: Exec = async (file, args, o) => {
      if (args[0] === 'convert') {
        await defaultExec(file, args, o);
        throw new DrydockError('TOOL_FAILED', 'qemu-img convert failed (exit 1): simulated');
      }
      return defaultExec(file, args, o);
    };
    await refused({ disks: [root], out: join(dir, 'half.ova'), exec: failing }, 'TOOL_FAILED');
  });

  it('ustar headers: GNU tar reads ours, base-256 sizes for 8 GiB and up', () => {
    const big = ustarHeader('big.vmdk', 9 * 1024 ** 3, 0);
    expect(big[124]).toBe(0x80);
    expect(big.readBigUInt64BE(128)).toBe(BigInt(9 * 1024 ** 3));
    expect(() => ustarHeader('x'.repeat(101), 1, 0)).toThrow(DrydockError);
    const small = Buffer.concat([ustarHeader('a.txt', 3, 0), Buffer.from('abc'), Buffer.alloc(509 + 1024)]);
    const p = join(dir, 'one.tar');
    writeFileSync(p, small);
    expect(execFileSync('tar', ['xOf', p, 'a.txt'], { encoding: 'utf8' })).toBe('abc');
    rmSync(p);
  });

  it('the CLI maps a missing disk to exit 1 with a one-line reason', () => {
    const r = spawnSync(
      'node',
      ['bin/drydock.js', 'ova', 'pack', '--disk', join(dir, 'nope'), '--out', join(dir, 'c.ova')],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^drydock: BUILD_INPUT_MISSING: disk .* does not exist$/);
  });
});
