"""`shoal signing-key create|show`: the controller's Ed25519 key for signed Desired documents.

`create PATH` writes a new private key (mode 0600, never over an existing file) and its
public half beside it as PATH.pub, the file every edge lists in `--trust-key` (and that
node bundles carry). `show PATH` prints a key's id and public half. Keep the private key
outside the fleet repository; docs/security.md describes rotation with two trusted keys.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ENV = "SHOAL_SIGNING_KEY"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "signing-key",
        help="create or show the controller's key for signing Desired documents",
        description="The controller signs every Desired document with an Ed25519 key "
        "(shoal controller --signing-key, or $SHOAL_SIGNING_KEY); edges accept only "
        "documents signed by a key they trust (shoal edge --trust-key PATH.pub).",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    create = verbs.add_parser(
        "create",
        help="write a new private key (0600) and PATH.pub",
        description="Write a new Ed25519 private key to PATH (mode 0600; an existing file "
        "is never overwritten) and its public half to PATH.pub.",
    )
    create.add_argument("path", type=Path, metavar="PATH")
    show = verbs.add_parser(
        "show",
        help="print a key's id and public half",
        description="Print the key id and the public key (PEM) of a private or public key file.",
    )
    show.add_argument("path", type=Path, metavar="PATH")
    show.add_argument("--format", choices=["text", "json"], default="text")
    return parser


def run(args: argparse.Namespace) -> int:
    from shadow.signing import KeyFileError, SigningKey, key_id, load_public_key, public_pem

    if args.verb == "create":
        return _create(args.path)
    try:
        data = args.path.read_bytes()
    except OSError as exc:
        print(f"error: {args.path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        if b"PRIVATE KEY" in data:
            public = SigningKey.from_pem(data).public
        else:
            public = load_public_key(data)
    except KeyFileError as exc:
        print(f"error: {args.path}: {exc}", file=sys.stderr)
        return 1
    pem = public_pem(public).decode()
    if args.format == "json":
        print(json.dumps({"keyId": key_id(public), "publicKey": pem}, indent=2))
    else:
        print(f"key id {key_id(public)}\n{pem}", end="")
    return 0


def _create(path: Path) -> int:
    from shadow.signing import SigningKey

    public = path.with_name(path.name + ".pub")
    for target in (path, public):
        if target.exists():
            print(f"error: {target} exists; shoal never overwrites a key", file=sys.stderr)
            return 1
    key = SigningKey.generate()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.private_pem())
        public.write_bytes(key.public_pem())
    except OSError as exc:
        print(f"error: cannot write {exc.filename or path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"signing key {key.key_id}: private {path} (keep it out of git), public {public}")
    print(f"next: shoal controller --signing-key {path} ...; shoal edge --trust-key {public} ...")
    return 0
