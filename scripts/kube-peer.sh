#!/usr/bin/env bash
# A real single-node Kubernetes test peer (tools/kube-peer) with its own containerd.
#   scripts/kube-peer.sh build              build once per machine into the cache; print its path
#   scripts/kube-peer.sh up --dir DIR       build if needed, start containerd + the peer, wait for
#                                           the node to be Ready, print the kubeconfig path
#   scripts/kube-peer.sh down --dir DIR     stop everything `up` started (idempotent)
#   scripts/kube-peer.sh path               print the cache folder (built or not)
# Options of up: --api-port N (default 6443), --no-kubelet (control plane only),
# --timeout SECONDS (default 300). Progress goes to stderr; stdout carries only the result.
# Needs: go (module proxy), containerd, runc, containernetworking-plugins, iptables, conntrack,
# mount/umount (scripts/setup-debian.sh installs them).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tools/kube-peer"
CNI_BIN="${KUBE_PEER_CNI_BIN:-/usr/lib/cni}"

log() { echo "kube-peer: $*" >&2; }
die() { echo "kube-peer: error: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found: run scripts/setup-debian.sh (Debian package $2)"; }

k8s_version() { awk '$1=="k8s.io/kubernetes" && $2 ~ /^v1\./ {print $2; exit}' "$SRC/go.mod"; }

source_hash() {
  (cd "$SRC" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum) | sha256sum | cut -c1-12
}

cache_dir() {
  echo "${DRYDOCK_CACHE:-$HOME/.cache/drydock}/kube-peer/$(k8s_version)-$(source_hash)"
}

# pause image: an OCI archive of tools/kube-peer/pause, imported into the peer's
# containerd as its sandbox image (no registry can be reached).
PAUSE_REF="localhost/kube-peer/pause:$(k8s_version)"

build_pause_image() {
  local out="$1" work
  work="$(mktemp -d)"
  mkdir -p "$work/rootfs" "$work/blobs/sha256"
  cp "$out/bin/pause" "$work/rootfs/pause"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/rootfs" -cf "$work/layer.tar" pause
  local layer diffid size cfg cfgd cfgs man mand mans
  diffid="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
  gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
  layer="$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)"
  size="$(stat -c %s "$work/layer.tar.gz")"
  mv "$work/layer.tar.gz" "$work/blobs/sha256/$layer"
  cfg='{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:'"$diffid"'"]}}'
  printf '%s' "$cfg" >"$work/cfg.json"
  cfgd="$(sha256sum "$work/cfg.json" | cut -d' ' -f1)"
  cfgs="$(stat -c %s "$work/cfg.json")"
  mv "$work/cfg.json" "$work/blobs/sha256/$cfgd"
  man='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$cfgd"'","size":'"$cfgs"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'"$layer"'","size":'"$size"'}]}'
  printf '%s' "$man" >"$work/man.json"
  mand="$(sha256sum "$work/man.json" | cut -d' ' -f1)"
  mans="$(stat -c %s "$work/man.json")"
  mv "$work/man.json" "$work/blobs/sha256/$mand"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s","io.containerd.image.name":"%s"}}]}' \
    "$mand" "$mans" "$(k8s_version)" "$PAUSE_REF" >"$work/index.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf "$out/images/pause.tar" oci-layout index.json blobs
  rm -rf "$work"
}

cmd_build() {
  local out
  out="$(cache_dir)"
  if [[ -x "$out/bin/kube-peer" && -f "$out/images/pause.tar" && -f "$out/build.txt" ]]; then
    log "cached: $out ($(cat "$out/build.txt"))"
    echo "$out"
    return
  fi
  need go "golang (Go >= 1.26)"
  local version tmp start secs ldflags pkg
  version="$(k8s_version)"
  [[ -n "$version" ]] || die "no k8s.io/kubernetes version in $SRC/go.mod"
  tmp="$out.partial.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp/bin" "$tmp/images"
  start=$(date +%s)
  log "build of Kubernetes $version into $out (expect 15-30 min on 2 cores; log: $tmp/build.log)"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$(echo "$version" | cut -d. -f1 | tr -d v)"
    ldflags+=" -X $pkg.gitMinor=$(echo "$version" | cut -d. -f2) -X $pkg.gitTreeState=clean"
    ldflags+=" -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  (
    cd "$SRC"
    export CGO_ENABLED=0 GOFLAGS=-trimpath
    nice -n 10 go build -ldflags "$ldflags" -o "$tmp/bin/kube-peer" . &&
      nice -n 10 go build -ldflags "-s -w" -o "$tmp/bin/pause" ./pause
  ) >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log" >&2; die "go build failed (log: $tmp/build.log)"; }
  ln -sf kube-peer "$tmp/bin/kubectl"
  build_pause_image "$tmp"
  secs=$(($(date +%s) - start))
  echo "kubernetes=$version build_seconds=$secs disk=$(du -sh "$tmp" | cut -f1)" >"$tmp/build.txt"
  rm -rf "$out"
  mv "$tmp" "$out"
  log "built in ${secs}s; $(cat "$out/build.txt"); Go caches: $(du -sh "$(go env GOMODCACHE)" | cut -f1) modules, $(du -sh "$(go env GOCACHE)" | cut -f1) build cache"
  echo "$out"
}

# ---------------------------------------------------------------- up / down

parse_dir_opts() {
  DIR="" API_PORT=6443 NO_KUBELET="" TIMEOUT=300
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dir) DIR="$2"; shift 2 ;;
      --api-port) API_PORT="$2"; shift 2 ;;
      --no-kubelet) NO_KUBELET=1; shift ;;
      --timeout) TIMEOUT="$2"; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [[ -n "$DIR" ]] || die "--dir DIR is required"
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # SECONDS DESCRIPTION COMMAND...
  local deadline=$(($(date +%s) + $1)) what="$2"
  shift 2
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.5
  done
  log "$what"
}

# the kubelet puts its pods under /kube-peer-<port> (--cgroup-root), which must exist in every
# hierarchy; a new cpuset cgroup starts with no CPUs and memory nodes, so it gets its parent's
make_cgroup_root() {
  local h
  for h in $(awk '$3 ~ /^cgroup2?$/ {print $2}' /proc/self/mounts); do
    mkdir -p "$h/kube-peer-$API_PORT"
    if [[ -f "$h/cpuset.cpus" && -f "$h/kube-peer-$API_PORT/cpuset.cpus" ]]; then
      [[ -n "$(cat "$h/kube-peer-$API_PORT/cpuset.cpus")" ]] || cat "$h/cpuset.cpus" >"$h/kube-peer-$API_PORT/cpuset.cpus"
      [[ -n "$(cat "$h/kube-peer-$API_PORT/cpuset.mems")" ]] || cat "$h/cpuset.mems" >"$h/kube-peer-$API_PORT/cpuset.mems"
    fi
  done
}

write_containerd_config() {
  local c="$DIR/containerd"
  mkdir -p "$c/root" "$c/state" "$DIR/agent/etc/cni/net.d"
  cat >"$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
# the CRI plugin is the only consumer; plugins that would need a system service are off
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  enable_selinux = false
  disable_apparmor = true
  # this machine's root lacks CAP_SYS_RESOURCE (CapBnd has no bit 24), so runc cannot lower
  # oom_score_adj to the -998 the CRI asks for a sandbox ("can't get final child's PID from
  # pipe: EOF"); restricting caps it at containerd's own value
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$DIR/agent/etc/cni/net.d"
EOF
  # one bridge per peer (named after the API port) so a peer never touches another's
  cat >"$DIR/agent/etc/cni/net.d/10-kube-peer.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kube-peer",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "kp$API_PORT",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/agent/cni-ipam",
        "ranges": [[{"subnet": "10.42.0.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

kubectl_() { "$BIN/kubectl" --kubeconfig "$DIR/kubeconfig.yaml" "$@"; }

node_ready() {
  [[ "$(kubectl_ get node kube-peer -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

cmd_up() {
  parse_dir_opts "$@"
  local out
  out="$(cmd_build)"
  BIN="$out/bin"
  need iptables iptables
  echo "$out" >"$DIR/peer-cache"
  echo "$API_PORT" >"$DIR/api-port"
  if pid_alive "$DIR/peer.pid"; then
    log "already running (pid $(cat "$DIR/peer.pid"))"
    echo "$DIR/kubeconfig.yaml"
    return
  fi
  local t0 start
  t0=$(date +%s%N)
  start=$(date +%s)
  mkdir -p "$DIR/logs"
  if [[ -z "$NO_KUBELET" ]]; then
    need containerd containerd
    need runc runc
    need conntrack conntrack
    [[ -x "$CNI_BIN/bridge" && -x "$CNI_BIN/host-local" && -x "$CNI_BIN/portmap" && -x "$CNI_BIN/loopback" ]] ||
      die "CNI plugins missing in $CNI_BIN: run scripts/setup-debian.sh (Debian package containernetworking-plugins)"
    save_iptables
    make_cgroup_root
    write_containerd_config
    if ! pid_alive "$DIR/containerd.pid"; then
      setsid containerd --config "$DIR/containerd/config.toml" >>"$DIR/logs/containerd.log" 2>&1 </dev/null &
      echo $! >"$DIR/containerd.pid"
    fi
    wait_for 60 "containerd up" ctr --address "$DIR/containerd/containerd.sock" version ||
      { tail -20 "$DIR/logs/containerd.log" >&2; die "containerd did not start (log: $DIR/logs/containerd.log)"; }
    ctr --address "$DIR/containerd/containerd.sock" -n k8s.io images import "$out/images/pause.tar" >&2
  fi
  local args=(server --dir "$DIR" --api-port "$API_PORT")
  [[ -n "$NO_KUBELET" ]] && args+=(--no-kubelet)
  setsid "$BIN/kube-peer" "${args[@]}" >>"$DIR/logs/kube-peer.log" 2>&1 </dev/null &
  echo $! >"$DIR/peer.pid"
  local deadline=$((start + TIMEOUT))
  until [[ -f "$DIR/server/cred/admin.kubeconfig" ]] && kubectl_ get --raw /readyz >/dev/null 2>&1 ||
    { cp "$DIR/server/cred/admin.kubeconfig" "$DIR/kubeconfig.yaml" 2>/dev/null && kubectl_ get --raw /readyz >/dev/null 2>&1; }; do
    pid_alive "$DIR/peer.pid" || { tail -30 "$DIR/logs/kube-peer.log" >&2; die "kube-peer exited (log: $DIR/logs/kube-peer.log)"; }
    (($(date +%s) < deadline)) || die "API server not ready after ${TIMEOUT}s (log: $DIR/logs/kube-peer.log)"
    sleep 0.5
  done
  cp "$DIR/server/cred/admin.kubeconfig" "$DIR/kubeconfig.yaml"
  log "API server ready after $(($(date +%s) - start))s"
  if [[ -z "$NO_KUBELET" ]]; then
    until node_ready; do
      pid_alive "$DIR/peer.pid" || { tail -30 "$DIR/logs/kube-peer.log" >&2; die "kube-peer exited (log: $DIR/logs/kube-peer.log)"; }
      (($(date +%s) < deadline)) || die "node not Ready after ${TIMEOUT}s (log: $DIR/logs/kube-peer.log)"
      sleep 0.5
    done
    log "node Ready"
  fi
  # the default ServiceAccount is created by a controller; pods are refused until it exists
  until kubectl_ get serviceaccount default -n default >/dev/null 2>&1; do
    (($(date +%s) < deadline)) || die "default ServiceAccount missing after ${TIMEOUT}s"
    sleep 0.5
  done
  local ms=$((($(date +%s%N) - t0) / 1000000))
  echo "up_ms=$ms" >"$DIR/up.txt"
  log "up in ${ms} ms; kubeconfig: $DIR/kubeconfig.yaml; kubectl: $BIN/kubectl; containerd: $DIR/containerd/containerd.sock"
  echo "$DIR/kubeconfig.yaml"
}

IPT_TABLES=(filter nat mangle raw)

# the chains present before the first `up`, so that down removes exactly those the peer added
save_iptables() {
  local cmd table
  mkdir -p "$DIR/iptables"
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null 2>&1 || continue
    for table in "${IPT_TABLES[@]}"; do
      [[ -f "$DIR/iptables/$cmd-$table.before" ]] && continue
      "$cmd" -t "$table" -S 2>/dev/null | awk '$1=="-N"{print $2}' | sort >"$DIR/iptables/$cmd-$table.before" || true
    done
  done
}

# deletes the chains added since save_iptables (kube-proxy's KUBE-*, the kubelet's canaries,
# the CNI plugins' CNI-*) and every rule that jumps to them
remove_added_iptables() {
  local cmd table chain rule
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null 2>&1 || continue
    for table in "${IPT_TABLES[@]}"; do
      [[ -f "$DIR/iptables/$cmd-$table.before" ]] || continue
      local added
      added="$(comm -13 "$DIR/iptables/$cmd-$table.before" <("$cmd" -t "$table" -S 2>/dev/null | awk '$1=="-N"{print $2}' | sort))"
      [[ -n "$added" ]] || continue
      while read -r rule; do
        eval "$cmd -t $table -D ${rule#-A }" 2>/dev/null || true
      done < <("$cmd" -t "$table" -S 2>/dev/null | grep -E -- '^-A ' |
        grep -E -- "-j ($(echo "$added" | paste -sd'|'))( |$)" | tac)
      for chain in $added; do "$cmd" -t "$table" -F "$chain" 2>/dev/null || true; done
      for chain in $added; do "$cmd" -t "$table" -X "$chain" 2>/dev/null || true; done
      log "$cmd $table: removed $(echo "$added" | wc -l) chains"
    done
  done
}

stop_pidfile() { # PIDFILE NAME SECONDS
  local f="$1" name="$2" secs="$3" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(($(date +%s) + secs))
    while kill -0 "$pid" 2>/dev/null && (($(date +%s) < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop in ${secs}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    log "$name stopped"
  fi
  rm -f "$f"
}

cmd_down() {
  parse_dir_opts "$@"
  local out="" port
  [[ -f "$DIR/peer-cache" ]] && out="$(cat "$DIR/peer-cache")"
  port="$(cat "$DIR/api-port" 2>/dev/null || echo "$API_PORT")"
  local sock="$DIR/containerd/containerd.sock"
  stop_pidfile "$DIR/peer.pid" kube-peer 30
  if [[ -S "$sock" ]] && pid_alive "$DIR/containerd.pid"; then
    # pods go through the CRI so containerd runs CNI DEL and drops their netns
    [[ -n "$out" ]] && "$out/bin/kube-peer" cri-cleanup --runtime-endpoint "unix://$sock" >&2 || true
    local t
    for t in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
    done
  fi
  stop_pidfile "$DIR/containerd.pid" containerd 20
  # shims outlive containerd by design; ours are the ones started with our socket
  local p
  for p in $(pgrep -f -- "-address $sock" 2>/dev/null || true); do
    kill -KILL "$p" 2>/dev/null || true
  done
  remove_added_iptables
  # mounts under DIR (pod volumes, overlay snapshots, shm), deepest first
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
  # network namespaces containerd made for our pods (their mount points are in /run/netns)
  ip link show "kp$port" >/dev/null 2>&1 && ip link delete "kp$port" && log "bridge kp$port removed"
  # pod cgroups of this peer, deepest first
  local root
  for root in $(awk '$3 ~ /^cgroup2?$/ {print $2}' /proc/self/mounts | sed "s|\$|/kube-peer-$port|"); do
    [[ -d "$root" ]] || continue
    find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # kubelet links container logs from a fixed folder
  find /var/log/containers -maxdepth 1 -type l -lname "$DIR/*" -delete 2>/dev/null || true
  rm -rf "$DIR/iptables"
  log "down: $DIR"
}

# sourcing the file (for tests of its parts) defines the functions only
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0
case "${1:-}" in
  build) shift; cmd_build "$@" ;;
  path) cache_dir ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
