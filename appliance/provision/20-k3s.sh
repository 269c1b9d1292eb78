#!/bin/sh
# 20-k3s.sh: the k3s binary and its airgap images (k3s imports agent/images at every start).
# Inputs: DRYDOCK_K3S_BINARY (default $DRYDOCK_PAYLOAD/k3s/k3s), DRYDOCK_K3S_IMAGES (default
#         $DRYDOCK_PAYLOAD/k3s/k3s-airgap-images-*.tar*), DRYDOCK_IMAGES_DIR (optional: more image
#         archives, .tar/.tar.zst/.tar.gz, for agent/images), DRYDOCK_ROOT (default /).
set -eu
ROOT="${DRYDOCK_ROOT:-/}"
PAYLOAD="${DRYDOCK_PAYLOAD:-/tmp/drydock-payload}"
say() { echo "drydock provision [k3s]: $*"; }

BIN="${DRYDOCK_K3S_BINARY:-$PAYLOAD/k3s/k3s}"
if [ -f "$BIN" ]; then
  install -D -m 0755 "$BIN" "$ROOT/usr/local/bin/k3s"
  for tool in kubectl crictl ctr; do ln -sf k3s "$ROOT/usr/local/bin/$tool"; done
  say "installed k3s ($(wc -c <"$BIN") bytes) with kubectl, crictl, ctr"
else
  say "LEFT OUT: k3s binary ($BIN not found; set DRYDOCK_K3S_BINARY): the box has no cluster until k3s is installed"
fi

IMAGES="$ROOT/var/lib/rancher/k3s/agent/images"
install -d -m 0755 "$IMAGES"
n=0
AIRGAP="${DRYDOCK_K3S_IMAGES:-}"
if [ -z "$AIRGAP" ]; then
  for f in "$PAYLOAD"/k3s/k3s-airgap-images-*.tar*; do [ -f "$f" ] && AIRGAP="$f"; done
fi
if [ -n "$AIRGAP" ] && [ -f "$AIRGAP" ]; then
  install -m 0644 "$AIRGAP" "$IMAGES/"
  n=$((n + 1))
  say "airgap images: $(basename "$AIRGAP")"
else
  say "LEFT OUT: k3s airgap images (set DRYDOCK_K3S_IMAGES): CoreDNS, Traefik, local-path would be pulled from the internet"
fi
if [ -n "${DRYDOCK_IMAGES_DIR:-}" ]; then
  for f in "$DRYDOCK_IMAGES_DIR"/*.tar "$DRYDOCK_IMAGES_DIR"/*.tar.zst "$DRYDOCK_IMAGES_DIR"/*.tar.gz; do
    [ -f "$f" ] || continue
    install -m 0644 "$f" "$IMAGES/"
    n=$((n + 1))
  done
  say "backend image archives from $DRYDOCK_IMAGES_DIR copied"
fi
say "$n image archive(s) in /var/lib/rancher/k3s/agent/images"
