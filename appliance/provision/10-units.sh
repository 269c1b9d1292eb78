#!/bin/sh
# 10-units.sh: the systemd units and k3s's config; then the data disk (the image's fstab mounts the
# filesystem labelled drydock-data on /var/lib/drydock-data), so the later steps write k3s's images
# and Drydock's state onto it.
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

install -d -m 0755 "$ROOT/etc/systemd/system" "$ROOT/etc/rancher/k3s"
for u in var-lib-rancher.mount var-lib-drydock.mount drydock-firstboot.service drydock-banner.service \
  k3s.service drydock-updater.service drydock-signal.service; do
  install -m 0644 "$UNITS/$u" "$ROOT/etc/systemd/system/$u"
done
install -m 0600 "$UNITS/k3s-config.yaml" "$ROOT/etc/rancher/k3s/config.yaml"
say "installed 7 units and /etc/rancher/k3s/config.yaml"

ENABLE="var-lib-rancher.mount var-lib-drydock.mount drydock-firstboot.service drydock-banner.service k3s.service drydock-updater.service drydock-signal.service"
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
DATA=/var/lib/drydock-data
if [ "$ROOT" = "/" ] && [ -e /dev/disk/by-label/drydock-data ]; then
  install -d "$DATA"
  mountpoint -q "$DATA" || mount /dev/disk/by-label/drydock-data "$DATA"
  for d in rancher drydock; do
    install -d -m 0755 "$DATA/$d" "/var/lib/$d"
    if ! mountpoint -q "/var/lib/$d"; then
      # anything already under /var/lib/$d moves onto the data disk first
      cp -a "/var/lib/$d/." "$DATA/$d/" 2>/dev/null || true
      mount --bind "$DATA/$d" "/var/lib/$d"
    fi
  done
  say "data disk mounted on $DATA; /var/lib/rancher and /var/lib/drydock are on it"
elif [ "$ROOT" = "/" ]; then
  say "LEFT OUT: no disk labelled drydock-data; k3s and Drydock keep their data on the root filesystem"
else
  # a folder root (tests, offline staging): prepare the folders the bind mounts expect
  install -d -m 0755 "$ROOT$DATA/rancher" "$ROOT$DATA/drydock"
fi
