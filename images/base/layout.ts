// The GPT layout of the golden disk, in 512-byte sectors:
//   1 MiB gap | p1 BIOS boot 1 MiB (core.img) | p2 EFI system partition | p3 root (ext4) | 1 MiB backup GPT
// Volumes live on a second disk (ext4 labelled drydock-data, no partition table, so it grows in
// place), the same shape as the separate EBS data volume on AWS.
import type { BaseSpec } from './spec.ts';

const MIB = 2048; // sectors

const TYPE_BIOS_BOOT = '21686148-6449-6E6F-744E-656564454649';
const TYPE_ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const TYPE_ROOT_X86_64 = '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709';

export interface Partition {
  name: string;
  type: string;
  start: number;
  size: number;
}

export interface Layout {
  totalSectors: number;
  bios: Partition;
  esp: Partition;
  root: Partition;
}

export function diskLayout(spec: Pick<BaseSpec, 'espSizeMiB' | 'rootSizeMiB'>): Layout {
  const bios = { name: 'bios', type: TYPE_BIOS_BOOT, start: MIB, size: MIB };
  const esp = { name: 'esp', type: TYPE_ESP, start: 2 * MIB, size: spec.espSizeMiB * MIB };
  const root = {
    name: 'root',
    type: TYPE_ROOT_X86_64,
    start: esp.start + esp.size,
    size: spec.rootSizeMiB * MIB,
  };
  return { totalSectors: root.start + root.size + MIB, bios, esp, root };
}

export function sfdiskScript(l: Layout, rootPartUuid: string): string {
  const line = (n: number, p: Partition, extra = '') =>
    `${n} : start=${p.start}, size=${p.size}, type=${p.type}, name="${p.name}"${extra}\n`;
  return (
    'label: gpt\nunit: sectors\nfirst-lba: 2048\n' +
    line(1, l.bios) +
    line(2, l.esp) +
    line(3, l.root, `, uuid=${rootPartUuid}`)
  );
}
