"""A small python-tuf ngclient for the interop tests.

refresh: refreshes a channel (from the root cached in --metadata-dir, or the bootstrap --root the
first time), optionally downloads one target, and prints one JSON line with what it saw or the
error it refused with. verify: checks one targets file against a root, to show python-tuf accepts
the bytes we sign.
"""

import argparse
import hashlib
import json
import os
import sys

from tuf.api import exceptions
from tuf.api.metadata import Metadata, Root, Targets
from tuf.ngclient import Updater


def kind(e: Exception) -> str:
    # the same words as the go client, so the test asserts one matrix
    if isinstance(e, exceptions.ExpiredMetadataError):
        return "expired"
    if isinstance(e, exceptions.LengthOrHashMismatchError):
        return "hash_mismatch"
    if isinstance(e, exceptions.UnsignedMetadataError):
        return "bad_signature"
    if isinstance(e, exceptions.BadVersionNumberError):
        return "rollback"
    return "other"


def emit(result: dict, err: Exception | None) -> None:
    result["ok"] = err is None
    if err is not None:
        result["error"] = {"kind": kind(err), "type": type(err).__name__, "message": str(err)}
    print(json.dumps(result))


def refresh(a: argparse.Namespace) -> None:
    result: dict = {"client": "python-tuf"}
    os.makedirs(a.metadata_dir, exist_ok=True)
    cached = os.path.exists(os.path.join(a.metadata_dir, "root.json"))
    bootstrap = None
    if not cached:
        with open(a.root, "rb") as f:
            bootstrap = f.read()
    err = None
    try:
        up = Updater(
            metadata_dir=a.metadata_dir,
            metadata_base_url=f"{a.url}/metadata/",
            target_base_url=f"{a.url}/targets/",
            target_dir=a.out,
            bootstrap=bootstrap,
        )
        try:
            up.refresh()
        finally:
            ts = up._trusted_set  # what the client trusts now, also after a refusal
            result["root_version"] = ts.root.version
            for role in ("timestamp", "snapshot", "targets"):
                if role in ts:
                    result[f"{role}_version"] = ts[role].version
        if a.target:
            info = up.get_targetinfo(a.target)
            if info is None:
                raise exceptions.RepositoryError(f"{a.target} is not a signed target")
            os.makedirs(a.out, exist_ok=True)
            path = up.download_target(info, os.path.join(a.out, os.path.basename(a.target)))
            with open(path, "rb") as f:
                data = f.read()
            result["target"] = {
                "path": a.target,
                "length": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
    except Exception as e:  # noqa: BLE001 - every refusal is reported, the test judges it
        err = e
    emit(result, err)


def verify(a: argparse.Namespace) -> None:
    result: dict = {"client": "python-tuf"}
    err = None
    try:
        with open(a.root, "rb") as f:
            root = Metadata[Root].from_bytes(f.read())
        with open(a.targets, "rb") as f:
            targets = Metadata[Targets].from_bytes(f.read())
        result["root_version"] = root.signed.version
        result["targets_version"] = targets.signed.version
        root.signed.verify_delegate(Targets.type, targets.signed_bytes, targets.signatures)
    except Exception as e:  # noqa: BLE001
        err = e
    emit(result, err)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("refresh")
    r.add_argument("--url", required=True)
    r.add_argument("--metadata-dir", required=True)
    r.add_argument("--root", required=True)
    r.add_argument("--target")
    r.add_argument("--out")
    v = sub.add_parser("verify")
    v.add_argument("--root", required=True)
    v.add_argument("--targets", required=True)
    a = p.parse_args()
    {"refresh": refresh, "verify": verify}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
