#!/bin/sh
# 10-units.sh: the systemd units, k3s's config and the default network; then the data disk, so the
# later steps write k3s's images and Drydock's state onto it.
# Inputs: DRYDOCK_PAYLOAD (folder with drydock-app.tar.zst, unpacked here for the unit files) or
#         DRYDOCK_UNITS_DIR (a checkout's appliance/units); DRYDOCK_ROOT (default /, tests use a folder).
set -eu
ROOT="${DRYDOCK_ROOT:-/}"
PAYLOAD="${DRYDOCK_PAYLOAD:-/tmp/drydock-payload}"
say() { echo "drydock provision [units]: $*"; }

UNITS="${DRYDOCK_UNITS_DIR:-}"
if [ -z "$UNITS" ]; then
  if [ -f "$PAYLOAD/drydock-app.tar.zst" ]; then
    tmp=$(mktemp -d)
    tar --zstd -xf "$PAYLOAD/drydock-app.tar.zst" -C "$tmp" appliance/units
    UNITS="$tmp/appliance/units"
  else
    say "LEFT OUT: no unit files (neither DRYDOCK_UNITS_DIR nor $PAYLOAD/drydock-app.tar.zst); the box will not start k3s, the updater or first boot"
    exit 0
  fi
fi

install -d -m 0755 "$ROOT/etc/systemd/system" "$ROOT/etc/rancher/k3s" "$ROOT/etc/systemd/network"
for u in data.mount var-lib-rancher.mount var-lib-drydock.mount drydock-firstboot.service drydock-banner.service \
  k3s.service drydock-updater.service drydock-signal.service; do
  install -m 0644 "$UNITS/$u" "$ROOT/etc/systemd/system/$u"
done
install -m 0600 "$UNITS/k3s-config.yaml" "$ROOT/etc/rancher/k3s/config.yaml"
install -m 0644 "$UNITS/90-drydock-default.network" "$ROOT/etc/systemd/network/90-drydock-default.network"
say "installed 8 units, /etc/rancher/k3s/config.yaml, the DHCP default network"

ENABLE="data.mount var-lib-rancher.mount var-lib-drydock.mount drydock-firstboot.service drydock-banner.service k3s.service drydock-updater.service drydock-signal.service"
# networkd and timesyncd come from the base OS; a root without them keeps what it has
OS_UNITS="systemd-networkd.service systemd-timesyncd.service"
if command -v systemctl >/dev/null 2>&1; then
  if [ "$ROOT" = "/" ]; then set --; else set -- --root="$ROOT"; fi
  systemctl "$@" enable $ENABLE >/dev/null 2>&1 || systemctl "$@" enable $ENABLE
  say "enabled: $ENABLE"
  for u in $OS_UNITS; do
    systemctl "$@" enable "$u" >/dev/null 2>&1 || say "note: $u is not in this root; not enabled"
  done
else
  say "LEFT OUT: systemctl not found; units installed but not enabled"
fi

# the data disk: mounted now when the build VM has it, so what follows lands on it
if [ "$ROOT" = "/" ] && [ -e /dev/disk/by-label/drydock-data ]; then
  install -d /data
  mountpoint -q /data || mount /dev/disk/by-label/drydock-data /data
  for d in rancher drydock; do
    install -d -m 0755 "/data/$d" "/var/lib/$d"
    if ! mountpoint -q "/var/lib/$d"; then
      # anything already under /var/lib/$d moves onto the data disk first
      cp -a "/var/lib/$d/." "/data/$d/" 2>/dev/null || true
      mount --bind "/data/$d" "/var/lib/$d"
    fi
  done
  say "data disk mounted on /data; /var/lib/rancher and /var/lib/drydock are on it"
elif [ "$ROOT" = "/" ]; then
  say "LEFT OUT: no disk labelled drydock-data; k3s and Drydock keep their data on the root filesystem"
fi
