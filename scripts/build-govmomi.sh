#!/usr/bin/env bash
# Builds govc and vcsim (govmomi's vSphere CLI and vCenter simulator) from the Go module proxy,
# at the version tools/govmomi/go.mod pins, into a cache outside the checkout:
#   ${DRYDOCK_TOOLS_CACHE:-$HOME/.cache/drydock}/govmomi-<version>-<hash of tools/govmomi>/{govc,vcsim}
# The key covers go.mod, go.sum and the two mains, so a new pin or a changed main builds anew and
# an unchanged one is reused. Prints the folder on stdout (progress goes to stderr).
#   scripts/build-govmomi.sh           build if missing, print the folder
#   scripts/build-govmomi.sh --print   print the folder the current pin uses, build nothing
set -euo pipefail
cd "$(dirname "$0")/../tools/govmomi"
command -v go >/dev/null || { echo "build-govmomi: the go command is missing (Go 1.25 or later)" >&2; exit 1; }
version=$(awk '$1 == "require" && $2 == "github.com/vmware/govmomi" { print $3 }' go.mod)
[ -n "$version" ] || { echo "build-govmomi: tools/govmomi/go.mod pins no github.com/vmware/govmomi" >&2; exit 1; }
key=$(cat go.mod go.sum cmd/govc/main.go cmd/vcsim/main.go | sha256sum | cut -c1-12)
dir="${DRYDOCK_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drydock}/govmomi-${version}-${key}"
if [ "${1:-}" = "--print" ]; then echo "$dir"; exit 0; fi
if [ -x "$dir/govc" ] && [ -x "$dir/vcsim" ]; then echo "$dir"; exit 0; fi
tmp="$dir.tmp-$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
echo "build-govmomi: building govc and vcsim $version into $dir" >&2
start=$(date +%s)
# -mod=readonly: go.sum must already hold every module (no silent re-resolution on CI)
nice -n 10 go build -mod=readonly -trimpath -o "$tmp/" ./cmd/govc ./cmd/vcsim
echo "build-govmomi: built in $(( $(date +%s) - start )) s" >&2
rm -rf "$dir"
mv "$tmp" "$dir"
echo "$dir"
