#!/bin/sh
# 30-drydock.sh: Node (Debian's nodejs, >= 20) and Drydock in /opt/drydock, with its production
# node_modules, the `drydock` command, and the backend's first-boot secret list.
# Inputs: DRYDOCK_PAYLOAD/drydock-app.tar.zst (Drydock + production node_modules, made by the image
#         build) or DRYDOCK_SRC (a checkout: runtime files copied, then `npm ci --omit=dev`);
#         DRYDOCK_BACKEND_DIR (default $DRYDOCK_PAYLOAD/backend: `drydock backend render --out` output);
#         DRYDOCK_ROOT (default /; with another root nothing is installed from apt).
set -eu
ROOT="${DRYDOCK_ROOT:-/}"
PAYLOAD="${DRYDOCK_PAYLOAD:-/tmp/drydock-payload}"
APP="$ROOT/opt/drydock"
say() { echo "drydock provision [drydock]: $*"; }

if [ "$ROOT" = "/" ]; then
  if ! command -v node >/dev/null 2>&1 || ! command -v zstd >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs zstd ca-certificates >/dev/null
  fi
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || { say "Node $major is too old (need 20+)"; exit 1; }
  say "node $(node --version)"
fi

install -d -m 0755 "$APP"
if [ -f "$PAYLOAD/drydock-app.tar.zst" ]; then
  tar --zstd -xf "$PAYLOAD/drydock-app.tar.zst" -C "$APP" --no-same-owner
  say "Drydock unpacked into /opt/drydock"
elif [ -n "${DRYDOCK_SRC:-}" ] && [ -d "$DRYDOCK_SRC" ]; then
  for p in package.json package-lock.json tsconfig.json bin core cli updater appliance web/dist; do
    [ -e "$DRYDOCK_SRC/$p" ] || continue
    install -d "$APP/$(dirname "$p")"
    cp -a "$DRYDOCK_SRC/$p" "$APP/$p"
  done
  if [ "${DRYDOCK_SKIP_NPM:-0}" = "1" ]; then
    say "LEFT OUT: npm ci (DRYDOCK_SKIP_NPM=1); /opt/drydock has no node_modules"
  elif command -v npm >/dev/null 2>&1; then
    (cd "$APP" && npm ci --omit=dev --ignore-scripts=false --no-audit --no-fund >/dev/null)
    say "npm ci --omit=dev done"
  else
    say "LEFT OUT: npm not found; /opt/drydock has no node_modules"
  fi
else
  say "LEFT OUT: Drydock itself (no $PAYLOAD/drydock-app.tar.zst, no DRYDOCK_SRC): no updater, no first boot"
  exit 0
fi
install -d -m 0755 "$ROOT/usr/local/bin"
cat >"$ROOT/usr/local/bin/drydock" <<'WRAP'
#!/bin/sh
exec /usr/bin/node /opt/drydock/bin/drydock.js "$@"
WRAP
chmod 0755 "$ROOT/usr/local/bin/drydock"

install -d -m 0755 "$ROOT/etc/drydock"
BACKEND="${DRYDOCK_BACKEND_DIR:-$PAYLOAD/backend}"
if [ -f "$BACKEND/generated-secrets.json" ]; then
  install -m 0644 "$BACKEND/generated-secrets.json" "$ROOT/etc/drydock/generated-secrets.json"
  say "first boot will generate the backend's secrets listed in generated-secrets.json"
else
  say "LEFT OUT: $BACKEND/generated-secrets.json (drydock backend render output): first boot generates no backend secrets"
fi
