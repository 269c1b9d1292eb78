// What the base OS is made of. The cache key is the hash of this spec plus BASE_FORMAT, so changing
// a package or a size rebuilds the base, and nothing else does.
import { createHash } from 'node:crypto';

const BASE_FORMAT = 5; // bump when the way the disk is assembled changes

export interface BaseSpec {
  suite: string;
  mirror: string;
  packages: string[];
  rootSizeMiB: number;
  espSizeMiB: number;
  dataSizeMiB: number;
  hostname: string;
  buildUser: string;
}

export const DEFAULT_BASE_SPEC: BaseSpec = {
  suite: 'trixie',
  mirror: 'http://deb.debian.org/debian',
  packages: [
    'linux-image-amd64',
    'initramfs-tools',
    'systemd',
    'systemd-sysv',
    'systemd-resolved',
    'systemd-timesyncd',
    'udev',
    'dbus',
    'openssh-server',
    'sudo',
    'grub-common',
    'grub-pc-bin',
    'grub-efi-amd64-bin',
    'fdisk',
    'dosfstools',
    'mtools',
    'e2fsprogs',
    'cloud-guest-utils',
    'ca-certificates',
    'curl',
    'nodejs',
    'iproute2',
    'open-vm-tools',
    'zstd',
    'umoci', // the stand-in cluster unpacks OCI images with it when the image has no k3s
    'busybox-static', // …and supervises each container with /bin/busybox
    'kmod',
    'procps',
    'less',
  ],
  rootSizeMiB: 8192,
  espSizeMiB: 62,
  dataSizeMiB: 20480,
  hostname: 'drydock',
  buildUser: 'drydock-build',
};

export function baseKey(spec: BaseSpec): string {
  const canonical = JSON.stringify({ format: BASE_FORMAT, ...spec, packages: [...spec.packages].sort() });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
