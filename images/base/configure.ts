// Turns the mmdebstrap tree into a bootable, reachable system: fstab by UUID/label, DHCP with
// systemd-networkd, serial + VGA console, SSH for the build user only (key auth, removed at seal),
// host keys made at boot (so no two boxes share them), GRUB config and modules under /boot/grub.
import { chmod, cp, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Exec } from '../exec.ts';
import { grubConfig } from './grub.ts';
import type { BaseSpec } from './spec.ts';

const KERNEL_CMDLINE = 'console=tty0 console=ttyS0,115200n8';
export const DATA_LABEL = 'drydock-data';
const DATA_MOUNT = '/var/lib/drydock-data';

export interface Ids {
  rootUuid: string;
  espVolumeId: string; // 8 hex digits
  rootPartUuid: string;
}

async function put(root: string, path: string, content: string, mode = 0o644): Promise<void> {
  const p = join(root, path);
  await mkdir(join(p, '..'), { recursive: true });
  await writeFile(p, content, { mode });
  await chmod(p, mode);
}

export async function configureRootfs(
  exec: Exec,
  root: string,
  spec: BaseSpec,
  ids: Ids,
  buildPublicKey: string,
): Promise<void> {
  const esp = `${ids.espVolumeId.slice(0, 4)}-${ids.espVolumeId.slice(4)}`.toUpperCase();
  await put(root, 'etc/hostname', `${spec.hostname}\n`);
  await put(
    root,
    'etc/hosts',
    `127.0.0.1\tlocalhost\n127.0.1.1\t${spec.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  );
  await put(
    root,
    'etc/fstab',
    `# Written by drydock (images/base)\nUUID=${ids.rootUuid}\t/\text4\terrors=remount-ro\t0\t1\nUUID=${esp}\t/boot/efi\tvfat\tumask=0077,nofail\t0\t2\nLABEL=${DATA_LABEL}\t${DATA_MOUNT}\text4\tdefaults,nofail,x-systemd.device-timeout=90s\t0\t2\n`,
  );
  await mkdir(join(root, 'boot/efi'), { recursive: true });
  await mkdir(join(root, DATA_MOUNT.slice(1)), { recursive: true });
  await put(
    root,
    'etc/systemd/network/80-dhcp.network',
    '# Written by drydock: DHCP on every wired interface until first boot sets a static address\n[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n\n[DHCPv4]\nUseDomains=yes\n',
  );
  await rm(join(root, 'etc/resolv.conf'), { force: true });
  await symlink('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
  await put(root, 'etc/machine-id', '');
  await rm(join(root, 'var/lib/dbus/machine-id'), { force: true });

  // SSH: keys only, never root; host keys are made on the box itself at first start
  await put(
    root,
    'etc/ssh/sshd_config.d/10-drydock.conf',
    'PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n',
  );
  await put(
    root,
    'etc/systemd/system/ssh.service.d/10-hostkeys.conf',
    '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n',
  );
  for (const f of await readdir(join(root, 'etc/ssh')))
    if (f.startsWith('ssh_host_')) await rm(join(root, 'etc/ssh', f));

  // the build user: what Packer connects as; the seal step deletes it
  const u = spec.buildUser;
  await exec('chroot', [
    root,
    'useradd',
    '--create-home',
    '--shell',
    '/bin/bash',
    '--comment',
    'drydock image build (removed at seal)',
    u,
  ]);
  await put(root, `home/${u}/.ssh/authorized_keys`, `${buildPublicKey.trim()}\n`, 0o600);
  await exec('chroot', [root, 'chown', '-R', `${u}:${u}`, `/home/${u}/.ssh`]);
  await chmod(join(root, `home/${u}/.ssh`), 0o700);
  await put(root, `etc/sudoers.d/90-${u}`, `${u} ALL=(ALL) NOPASSWD:ALL\n`, 0o440);
  await exec('chroot', [root, 'passwd', '--lock', 'root']);

  await exec('chroot', [
    root,
    'systemctl',
    'enable',
    'systemd-networkd.service',
    'systemd-resolved.service',
    'ssh.service',
  ]);

  // GRUB: modules beside grub.cfg (what grub-install would copy), the config update-grub would write
  for (const platform of ['i386-pc', 'x86_64-efi'])
    await cp(join(root, 'usr/lib/grub', platform), join(root, 'boot/grub', platform), { recursive: true });
  await put(root, 'boot/grub/grub.cfg', grubConfig(ids.rootUuid, KERNEL_CMDLINE));
  await put(
    root,
    'etc/default/grub.d/50-drydock.cfg',
    `GRUB_TIMEOUT=2\nGRUB_CMDLINE_LINUX="${KERNEL_CMDLINE}"\nGRUB_TERMINAL="console serial"\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n`,
  );
}
