#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for building and testing Drydock: the Debian packages the
# build and the tests use (real parts, not mocks), then the npm dependencies exactly as locked
# (npm ci; it builds the approved native packages: better-sqlite3, esbuild).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
PACKAGES=(
  ca-certificates curl git xz-utils zstd
  qemu-system-x86 qemu-utils ovmf        # boot the images we build (TCG), qemu-img for VMDK
  libxml2-utils                          # xmllint: OVF descriptors against the DMTF schema
  packer                                 # validate and run the templates (Debian's 1.6.6)
  containerd                             # real image import (ctr)
  umoci skopeo busybox-static            # the demo's OCI images, made here from Debian packages
  postgresql                             # the demo database image (examples/demo/postgres.ts): PostgreSQL 15 and its libraries
  mmdebstrap genisoimage xorriso         # the base OS and the OVF ISO transport
  chromium                               # the admin page in a real browser
  wrk                                    # load from a second process for the service bench
  openssl
  openssh-client                         # ssh-keygen: first-boot SSH keys, the Packer template tests
  systemd                                # systemd-analyze verify of the appliance's units
  iproute2 e2fsprogs                     # ip: the stand-in's pod netns; mke2fs/debugfs: test disks
  strace                                 # test/durability: fsync before and after every durable rename
  runc containernetworking-plugins iptables conntrack   # tools/kube-peer (scripts/kube-peer.sh; Go comes with the machine)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# the range of package.json's engines (what the locked dependencies need): ^20.19.0 || >=22.12.0
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)||a===21||(a===22&&b<12)) { console.error("setup: Node ^20.19.0 || >=22.12.0 is required, found "+process.version); process.exit(1) }'
# the lock holds every platform's optional binaries (test/repo/dependencies.test.ts checks it)
npm ci --no-audit --no-fund
# the real Kubernetes test peer: a cold build takes 15-30 min on 2 cores, then it is cached per machine
scripts/kube-peer.sh build >/dev/null
# govc and vcsim (govmomi, from the Go module proxy) for the vSphere import test: built once per
# version pinned in tools/govmomi/go.mod, into a cache outside the checkout
nice -n 10 scripts/build-govmomi.sh >/dev/null
# TUF interop (test/interop): python-tuf pinned in a venv and the go-tuf client built, both in a
# cache outside the checkout
TUF_CACHE="${DRYDOCK_CACHE:-$HOME/.cache/drydock}"
python3 -m venv --help >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv
[ -x "$TUF_CACHE/venv-tuf/bin/python" ] || python3 -m venv "$TUF_CACHE/venv-tuf"
"$TUF_CACHE/venv-tuf/bin/pip" install -q --disable-pip-version-check 'tuf==7.0.1'
command -v go >/dev/null || { echo "setup: go is required for the go-tuf interop client (test/interop/go-tuf-client)" >&2; exit 1; }
(cd test/interop/go-tuf-client && nice -n 10 go build -o "$TUF_CACHE/bin/go-tuf-client" .)
# cfn-lint, AWS's CloudFormation linter (test/cloudformation/cfn-lint.test.ts): every package pinned
# in the test's requirements file, in a venv in the same cache outside the checkout
[ -x "$TUF_CACHE/venv-cfn-lint/bin/python" ] || python3 -m venv "$TUF_CACHE/venv-cfn-lint"
"$TUF_CACHE/venv-cfn-lint/bin/pip" install -q --disable-pip-version-check -r test/cloudformation/cfn-lint-requirements.txt
