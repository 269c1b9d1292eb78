#!/bin/sh
# 40-box-init.sh: install the first release with `drydock box init` (trust root, config.yaml,
# the release's manifests and images in place for k3s's first start).
# Inputs: DRYDOCK_BUNDLE (default $DRYDOCK_PAYLOAD/release/release.drydock), DRYDOCK_TRUST (default
#         $DRYDOCK_PAYLOAD/release/root.json), DRYDOCK_CLUSTER (k3s), DRYDOCK_ROOT (default /).
set -eu
ROOT="${DRYDOCK_ROOT:-/}"
PAYLOAD="${DRYDOCK_PAYLOAD:-/tmp/drydock-payload}"
BUNDLE="${DRYDOCK_BUNDLE:-$PAYLOAD/release/release.drydock}"
TRUST="${DRYDOCK_TRUST:-$PAYLOAD/release/root.json}"
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
"$DRYDOCK" box init --root "$ROOT" --trust "$TRUST" --release "$BUNDLE" --cluster "${DRYDOCK_CLUSTER:-k3s}"
say "first release installed"
