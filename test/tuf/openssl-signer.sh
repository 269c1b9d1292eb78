#!/bin/sh
# A stand-in for an HSM/KMS signer, for tests: signs the bytes on stdin with the Ed25519 key
# $SIGNER_KEYS/<keyid>.pem using openssl, and prints the signature as hex (or base64 when
# SIGNER_BASE64=1). The key lives only in the signer's folder, never in the drydock key folder.
set -eu
key="$SIGNER_KEYS/$1.pem"
[ -f "$key" ] || { echo "no key $1 in this signer" >&2; exit 3; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cat >"$tmp"
if [ "${SIGNER_BASE64:-}" = 1 ]; then
  openssl pkeyutl -sign -rawin -inkey "$key" -in "$tmp" | openssl base64 -A
else
  openssl pkeyutl -sign -rawin -inkey "$key" -in "$tmp" | od -An -v -tx1 | tr -d ' \n'
fi
