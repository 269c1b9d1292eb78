#!/bin/sh
# 90-seal.sh: what must not ship from this build in the appliance's own state: k3s's per-cluster
# secrets (CA, tokens, datastore) if k3s ran during the build, the machine identity and SSH host
# keys, SSH switched off. images/packer/seal.sh runs after it (last: it removes the build user
# Packer is connected as, and the logs of this session).
# Inputs: DRYDOCK_ROOT (default /).
set -eu
ROOT="${DRYDOCK_ROOT:-/}"
say() { echo "drydock provision [seal]: $*"; }

K3S="$ROOT/var/lib/rancher/k3s"
if [ -d "$K3S/server/db" ] || [ -d "$K3S/server/tls" ]; then
  # every box makes its own CA and tokens; the manifests and images stay, k3s re-applies them
  rm -rf "$K3S/server/db" "$K3S/server/tls" "$K3S/server/cred" "$K3S/server/token" "$K3S/server/node-token" \
    "$K3S/server/agent-token" "$K3S/agent/client-"* "$K3S/agent/server-"* "$K3S/agent/serving-"* "$K3S/agent/pod-manifests" \
    "$ROOT/etc/rancher/node" "$ROOT/etc/rancher/k3s/k3s.yaml"
  say "k3s per-cluster state removed (manifests and airgap images kept)"
fi
[ -f "$ROOT/etc/machine-id" ] && : >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id" "$ROOT"/etc/ssh/ssh_host_*
rm -rf "$ROOT/var/lib/drydock/firstboot" "$ROOT/var/lib/drydock/secrets"
rm -f "$ROOT/etc/drydock/tls/cert.pem" "$ROOT/etc/drydock/tls/key.pem"
if command -v systemctl >/dev/null 2>&1; then
  if [ "$ROOT" = "/" ]; then systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
  else systemctl --root="$ROOT" disable ssh.service ssh.socket >/dev/null 2>&1 || true
  fi
fi
rm -f "$ROOT/etc/systemd/system/multi-user.target.wants/ssh.service" "$ROOT/etc/systemd/system/sockets.target.wants/ssh.socket"
say "machine-id emptied, SSH host keys removed, SSH off until first boot gets a key; first-boot state cleared"
