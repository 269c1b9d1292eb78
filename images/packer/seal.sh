#!/bin/sh
# Seal the golden image: nothing that identifies this build machine or its build session may ship.
# Runs as root, last. With --poweroff (the qemu source's shutdown command) it powers the VM off.
set -eu
BUILD_USER="${DRYDOCK_BUILD_USER:-drydock-build}"

# identity: every box makes its own machine-id and SSH host keys on first boot
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -f /etc/ssh/ssh_host_*
# SSH stays off until first boot is given an authorized key (appliance/firstboot turns it on)
systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true

# logs, caches, temporary files of the build
journalctl --rotate >/dev/null 2>&1 || true
journalctl --vacuum-time=1s >/dev/null 2>&1 || true
rm -rf /var/log/journal/*
find /var/log -type f -exec truncate -s 0 {} + 2>/dev/null || true
apt-get clean >/dev/null 2>&1 || true
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
rm -rf /tmp/drydock-payload /var/tmp/* /root/.bash_history /root/.ssh /root/.cache /root/.npm
rm -f /var/lib/systemd/random-seed

# the build user last: its sudo rule, its keys, itself (its own SSH session may still be open)
rm -f "/etc/sudoers.d/90-${BUILD_USER}"
if id "$BUILD_USER" >/dev/null 2>&1; then
  userdel --force --remove "$BUILD_USER" >/dev/null 2>&1 || userdel --force "$BUILD_USER"
fi
rm -f /tmp/drydock-seal.sh
fstrim --all >/dev/null 2>&1 || true
sync
echo "drydock: image sealed"
if [ "${1:-}" = "--poweroff" ]; then
  systemctl poweroff --no-block
fi
