"""Encode Desired documents for the wire, fast: byte-for-byte `DesiredDocument.to_json()`.

The publisher calls `DesiredEncoder.encode(doc)` for each document of a batch. Nodes
that share a memoized render share `DesiredApp` objects, so each app's canonical JSON
is encoded once per batch and documents are assembled around it (`shadow.canonical_object`):
several times cheaper than `to_json()` for a big fleet, where encoding otherwise dominates
publishing.
`tests/controller/test_ledger.py` pins the equality with `to_json()`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from shadow import API_VERSION, DesiredApp, DesiredDocument, canonical_json, canonical_object

if TYPE_CHECKING:  # cryptography loads only with a key: not at `shoal --help`
    from shadow.signing import SigningKey


# Strings JSON writes as they are between quotes (no escape in any encoder setting):
# node names, revisions, digests and signatures always are.
_PLAIN = re.compile(r"[A-Za-z0-9._:/+=-]*\Z")


def _string(value: object) -> bytes:
    if type(value) is str and _PLAIN.match(value):
        return b'"' + value.encode("ascii") + b'"'
    return canonical_json(value)


class DesiredEncoder:
    """Encodes documents; keep one per batch (it holds the apps it has encoded). With a
    `signer`, each document gets its signature over exactly the bytes sent without it."""

    def __init__(self, signer: SigningKey | None = None) -> None:
        self._apps: dict[int, tuple[DesiredApp, bytes]] = {}
        self._heads: dict[str, tuple[bytes, bytes, bytes]] = {}  # per revision: fixed parts
        self._signer = signer

    def _app(self, app: DesiredApp) -> bytes:
        cached = self._apps.get(id(app))
        if cached is not None and cached[0] is app:
            return cached[1]
        encoded = canonical_json(app.to_dict())
        self._apps[id(app)] = (app, encoded)  # holding `app` keeps its id from being reused
        return encoded

    def encode(self, doc: DesiredDocument) -> bytes:
        """`doc.to_json()`, with each shared app's bytes reused (and signed, with a signer)."""
        if doc.agent is None and type(doc.generation) is int:
            return self._framed(doc)
        members = {key: canonical_json(value) for key, value in doc.envelope().items()}
        members["apps"] = canonical_object({name: self._app(app) for name, app in doc.apps.items()})
        if self._signer is not None:  # sign exactly the bytes sent, without the signature
            members.pop("signature", None)
            signature = self._signer.sign_bytes(canonical_object(members))
            members["signature"] = canonical_json(signature)
        return canonical_object(members)

    def _framed(self, doc: DesiredDocument) -> bytes:
        """`encode` for a document without an agent release: its members written in
        their sorted order around the apps' bytes (a few us a document less than
        building and sorting the envelope; `envelope()` is what it must equal)."""
        apps = canonical_object({name: self._app(app) for name, app in doc.apps.items()})
        head = self._heads.get(doc.revision)
        if head is None:
            head = self._heads[doc.revision] = (
                b'{"apiVersion":' + canonical_json(API_VERSION) + b',"apps":',
                b',"kind":"Desired","node":',
                b',"revision":' + _string(doc.revision),
            )
        body = (
            head[0] + apps + b',"digest":' + _string(doc.digest)
            + b',"generation":' + int.__repr__(doc.generation).encode()
            + head[1] + _string(doc.node) + head[2]
        )  # fmt: skip
        if self._signer is not None:
            signature: object = self._signer.sign_bytes(body + b"}")
        else:
            signature = doc.signature
        if signature is None:
            return body + b"}"
        return body + b',"signature":' + _string(signature) + b"}"
