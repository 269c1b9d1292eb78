// GRUB for BIOS and UEFI without grub-install (which wants block devices and a mounted root; this
// machine makes no loop partition nodes). We do what grub-bios-setup does for a GPT disk with a
// BIOS boot partition: core.img goes into that partition, its first sector (diskboot) gets a
// blocklist pointing at the rest, and boot.img in the MBR gets core.img's first sector. UEFI gets a
// standalone BOOTX64.EFI on the ESP (the removable-media path every firmware looks for).

export const SECTOR = 512;

// offsets in boot.img (grub-core/boot/i386/pc/boot.S, include/grub/i386/pc/boot.h)
const KERNEL_SECTOR = 0x5c;
const BOOT_DRIVE = 0x64;
const DRIVE_CHECK = 0x66;
const MBR_CODE_END = 0x1b8; // disk signature and partition table start here: keep the disk's own
const LIST_SIZE = 12; // struct grub_boot_blocklist { u64 start; u16 len; u16 segment; }

/** The MBR: boot.img's code with core.img's first sector, over the disk's own table. */
export function patchMbr(mbr: Buffer, bootImg: Buffer, coreSector: number): Buffer {
  if (bootImg.length !== SECTOR || mbr.length !== SECTOR)
    throw new Error('boot.img and the MBR are one sector');
  const out = Buffer.from(mbr);
  bootImg.copy(out, 0, 0, MBR_CODE_END);
  out.writeBigUInt64LE(BigInt(coreSector), KERNEL_SECTOR);
  out[BOOT_DRIVE] = 0xff; // use the drive the BIOS booted from
  out[DRIVE_CHECK] = 0x90; // grub-bios-setup nops the floppy/HDD check for hard disks
  out[DRIVE_CHECK + 1] = 0x90;
  return out;
}

/** core.img with its blocklist pointing at its own sectors 1..n-1, stored from coreSector on. */
export function patchCore(core: Buffer, coreSector: number): Buffer {
  const sectors = Math.ceil(core.length / SECTOR);
  const out = Buffer.alloc(sectors * SECTOR);
  core.copy(out);
  const first = SECTOR - LIST_SIZE;
  out.writeBigUInt64LE(BigInt(coreSector + 1), first);
  out.writeUInt16LE(sectors - 1, first + 8);
  // segment stays as diskboot.img has it (0x820); the entry below must terminate the list
  out.fill(0, first - LIST_SIZE, first);
  return out;
}

export function earlyConfig(rootUuid: string): string {
  return `search --no-floppy --fs-uuid --set=root ${rootUuid}\nset prefix=($root)/boot/grub\n`;
}

export function grubConfig(rootUuid: string, cmdline: string): string {
  return `# Written by drydock (images/base). /vmlinuz and /initrd.img follow kernel upgrades.
set default=0
set timeout=2
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root ${rootUuid}
menuentry 'Drydock appliance' {
  linux /vmlinuz root=UUID=${rootUuid} ro ${cmdline}
  initrd /initrd.img
}
`;
}

export const BIOS_MODULES = [
  'biosdisk',
  'part_gpt',
  'part_msdos',
  'ext2',
  'search',
  'search_fs_uuid',
  'normal',
  'configfile',
  'linux',
  'serial',
  'terminal',
  'echo',
  'test',
];
export const EFI_MODULES = [
  'part_gpt',
  'part_msdos',
  'ext2',
  'fat',
  'search',
  'search_fs_uuid',
  'normal',
  'configfile',
  'linux',
  'serial',
  'terminal',
  'echo',
  'test',
  'efi_gop',
  'all_video',
];
