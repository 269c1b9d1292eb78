#!/bin/sh
# 40-box-init.sh: install the first release with `drydock box init` (trust root, config.yaml, the
# release's images imported and manifests applied, health-gated). k3s is started for it and
# stopped afterwards; 90-seal.sh then removes the per-cluster secrets this start created.
# Inputs: DRYDOCK_BUNDLE (default $DRYDOCK_PAYLOAD/release/release.drydock), DRYDOCK_TRUST (default
#         $DRYDOCK_PAYLOAD/release/root.json), DRYDOCK_CLUSTER (k3s, or standin for tests and the
#         demo), DRYDOCK_K3S_WAIT (seconds for the node to become Ready, default 900),
#         DRYDOCK_ROOT (default /), DRYDOCK_UNITS_DIR (the stand-in's drop-in; default
#         /opt/drydock/appliance/units).
set -eu
ROOT="${DRYDOCK_ROOT:-/}"
PAYLOAD="${DRYDOCK_PAYLOAD:-/tmp/drydock-payload}"
BUNDLE="${DRYDOCK_BUNDLE:-$PAYLOAD/release/release.drydock}"
TRUST="${DRYDOCK_TRUST:-$PAYLOAD/release/root.json}"
CLUSTER="${DRYDOCK_CLUSTER:-k3s}"
DRYDOCK="${DRYDOCK_BIN:-$ROOT/usr/local/bin/drydock}"
say() { echo "drydock provision [box init]: $*"; }

if [ ! -f "$BUNDLE" ] || [ ! -f "$TRUST" ]; then
  say "LEFT OUT: the first release (bundle $BUNDLE or trust $TRUST missing): the box starts with no release; upload one on the admin page"
  exit 0
fi
if [ ! -x "$DRYDOCK" ]; then
  say "LEFT OUT: the first release: $DRYDOCK is not installed (30-drydock.sh left Drydock out)"
  exit 0
fi

started=0
if [ "$CLUSTER" = "k3s" ]; then
  if [ ! -x "$ROOT/usr/local/bin/k3s" ]; then
    say "LEFT OUT: the first release: it needs k3s, which 20-k3s.sh left out; the box starts with no release"
    exit 0
  fi
  if [ "$ROOT" = "/" ] && ! systemctl is-active --quiet k3s.service; then
    systemctl start k3s.service
    started=1
    wait="${DRYDOCK_K3S_WAIT:-900}"
    i=0
    until k3s kubectl get nodes 2>/dev/null | grep -q ' Ready'; do
      i=$((i + 5))
      if [ "$i" -ge "$wait" ]; then
        say "k3s did not become Ready within ${wait}s"
        systemctl stop k3s.service || true
        exit 1
      fi
      sleep 5
    done
    say "k3s is Ready (${i}s)"
  fi
fi
status=0
"$DRYDOCK" box init --root "$ROOT" --trust "$TRUST" --release "$BUNDLE" --cluster "$CLUSTER" || status=$?
if [ "$started" = 1 ]; then systemctl stop k3s.service || true; fi
if [ "$status" -ne 0 ]; then
  say "drydock box init failed (exit $status)"
  exit "$status"
fi
say "first release installed"
if [ "$CLUSTER" = "standin" ]; then
  # the stand-in runs the backend's containers inside the updater's service: they need back what
  # the hardened unit takes away (drydock-updater-standin.conf says what and why)
  UNITS="${DRYDOCK_UNITS_DIR:-$ROOT/opt/drydock/appliance/units}"
  if [ -f "$UNITS/drydock-updater-standin.conf" ]; then
    install -d -m 0755 "$ROOT/etc/systemd/system/drydock-updater.service.d"
    install -m 0644 "$UNITS/drydock-updater-standin.conf" "$ROOT/etc/systemd/system/drydock-updater.service.d/50-standin.conf"
    say "stand-in cluster: drydock-updater.service.d/50-standin.conf installed"
  else
    say "LEFT OUT: $UNITS/drydock-updater-standin.conf: the stand-in's containers will not start inside the hardened updater unit"
  fi
fi
