"""Encode Desired documents for the wire, fast: byte-for-byte `DesiredDocument.to_json()`.

The publisher calls `DesiredEncoder.encode(doc)` for each document of a batch. Nodes
that share a memoized render share `DesiredApp` objects, so each app's canonical JSON
is encoded once per batch and documents are assembled around it (`shadow.canonical_object`):
several times cheaper than `to_json()` for a big fleet, where encoding otherwise dominates
publishing.
`tests/controller/test_ledger.py` pins the equality with `to_json()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shadow import DesiredApp, DesiredDocument, canonical_json, canonical_object

if TYPE_CHECKING:  # cryptography loads only with a key: not at `shoal --help`
    from shadow.signing import SigningKey


class DesiredEncoder:
    """Encodes documents; keep one per batch (it holds the apps it has encoded). With a
    `signer`, each document gets its signature over exactly the bytes sent without it."""

    def __init__(self, signer: SigningKey | None = None) -> None:
        self._apps: dict[int, tuple[DesiredApp, bytes]] = {}
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
        members = {key: canonical_json(value) for key, value in doc.envelope().items()}
        members["apps"] = canonical_object({name: self._app(app) for name, app in doc.apps.items()})
        if self._signer is not None:  # sign exactly the bytes sent, without the signature
            members.pop("signature", None)
            signature = self._signer.sign_bytes(canonical_object(members))
            members["signature"] = canonical_json(signature)
        return canonical_object(members)
