// The pieces of the base disk that are pure logic: the GPT layout, what we patch into GRUB's
// boot.img and core.img (as grub-bios-setup would), and the KVM/TCG probe with the real QEMU.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  acceleratorWorks,
  baseKey,
  bootVm,
  DEFAULT_BASE_SPEC,
  diskLayout,
  grubConfig,
  patchCore,
  patchMbr,
  probeSector,
  sfdiskScript,
} from '../../images/index.ts';

describe('base disk', () => {
  it('lays out BIOS boot, ESP and root aligned to 1 MiB, with room for the backup GPT', () => {
    const l = diskLayout(DEFAULT_BASE_SPEC);
    const parts = [l.bios, l.esp, l.root];
    for (const p of parts) expect(p.start % 2048).toBe(0);
    for (let i = 1; i < parts.length; i++)
      expect(parts[i]!.start).toBe(parts[i - 1]!.start + parts[i - 1]!.size);
    expect(l.totalSectors - (l.root.start + l.root.size)).toBeGreaterThanOrEqual(33);
    expect(l.root.size).toBe(DEFAULT_BASE_SPEC.rootSizeMiB * 2048);
    const s = sfdiskScript(l, '11111111-2222-3333-4444-555555555555');
    expect(s).toContain('label: gpt');
    expect(s).toContain('type=21686148-6449-6E6F-744E-656564454649');
    expect(s).toContain('type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(s).toContain('uuid=11111111-2222-3333-4444-555555555555');
  });

  it('patches boot.img into the MBR without touching the partition table', () => {
    const mbr = Buffer.alloc(512, 0);
    mbr.fill(0xab, 0x1b8, 510);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    const boot = Buffer.alloc(512, 0xcc);
    const out = patchMbr(mbr, boot, 2048);
    expect(out.readBigUInt64LE(0x5c)).toBe(2048n);
    expect(out[0x64]).toBe(0xff);
    expect(out.subarray(0x1b8)).toEqual(mbr.subarray(0x1b8));
    expect(out[0]).toBe(0xcc);
  });

  it('points core.img blocklist at its own remaining sectors', () => {
    const core = Buffer.alloc(512 * 40 + 100, 1);
    const out = patchCore(core, 2048);
    expect(out.length).toBe(512 * 41);
    expect(out.readBigUInt64LE(500)).toBe(2049n);
    expect(out.readUInt16LE(508)).toBe(40);
    expect(out.subarray(488, 500).every((b) => b === 0)).toBe(true);
  });

  it('boots the kernel by filesystem UUID on the serial and VGA consoles', () => {
    const cfg = grubConfig('abcd', 'console=tty0 console=ttyS0,115200n8');
    expect(cfg).toContain('search --no-floppy --fs-uuid --set=root abcd');
    expect(cfg).toContain('root=UUID=abcd');
    expect(cfg).toContain('console=ttyS0,115200n8');
  });

  it('keys the cache by every input', () => {
    const k = baseKey(DEFAULT_BASE_SPEC);
    expect(baseKey({ ...DEFAULT_BASE_SPEC })).toBe(k);
    expect(baseKey({ ...DEFAULT_BASE_SPEC, packages: [...DEFAULT_BASE_SPEC.packages, 'vim'] })).not.toBe(k);
    expect(baseKey({ ...DEFAULT_BASE_SPEC, rootSizeMiB: 4096 })).not.toBe(k);
  });

  it('the accelerator probe runs a real guest: TCG prints the byte', async () => {
    expect(probeSector()[510]).toBe(0x55);
    expect(await acceleratorWorks('tcg', 15_000)).toBe(true);
  });

  it('bootVm runs QEMU and stop() ends it with SIGTERM; a VM that is gone says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drydock-vm-'));
    try {
      writeFileSync(join(dir, 'probe.img'), probeSector());
      const vm = bootVm({
        disks: [{ path: join(dir, 'probe.img'), format: 'raw' }],
        consoleLog: join(dir, 'console.log'),
        accel: 'tcg',
        memoryMb: 64,
        cpus: 1,
        httpsPort: 0,
      });
      // QEMU opens the serial file once it runs (its firmware tries network boot first, for long)
      await expect.poll(() => existsSync(join(dir, 'console.log')), { timeout: 30_000 }).toBe(true);
      await vm.stop();
      // SIGTERM: QEMU's handler exits 0 ("terminating on signal 15"), or it came first (128 + 15)
      await expect(vm.waitConsole(/never/, 30_000)).rejects.toThrow(/^QEMU exited \((0|143)\): /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
