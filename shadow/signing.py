"""Signed documents: an Ed25519 signature over a document's canonical JSON without it.

The controller signs every Desired document with its signing key; the edge accepts only
documents signed by a key its configuration trusts (several at once, so a key can be
rotated without a flag day: docs/security.md). The signature field carries the key id:

    "signature": "ed25519:<key id>:<base64url signature, unpadded>"

A key id is the first 16 hex digits of the sha256 of the raw 32-byte public key. What is
signed is `signed_bytes(document)`: the canonical JSON (shadow/canonical.py) of every field
but `signature`, so the node, the generation, the digest (which covers the apps and the
agent release) and the revision are all covered. Pure: keys come in as PEM bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shadow.canonical import canonical_json

SCHEME = "ed25519"


class SignatureError(ValueError):
    """A document's signature is missing, malformed, from an untrusted key, or wrong."""


class KeyFileError(ValueError):
    """Bytes that are not an Ed25519 key in PEM; the message says what they are."""


def signed_bytes(document: Mapping[str, Any]) -> bytes:
    """What a signature covers: the canonical JSON of `document` without `signature`."""
    return canonical_json({k: v for k, v in document.items() if k != "signature"})


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class SigningKey:
    """The controller's private key (a PEM file kept outside the fleet repository)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)
        self._prefix = f"{SCHEME}:{self.key_id}:"

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"not a PEM private key without a password ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"a {type(key).__name__.removeprefix('_')} key, not Ed25519")
        return cls(key)

    def private_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return public_pem(self.public)

    def sign_bytes(self, payload: bytes) -> str:
        """The signature field for a document whose `signed_bytes` are `payload`."""
        raw = self._private.sign(payload)
        return self._prefix + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def sign(self, document: Mapping[str, Any]) -> str:
        return self.sign_bytes(signed_bytes(document))


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(data: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"a {type(key).__name__.removeprefix('_')} key, not Ed25519")
    return key


class TrustedKeys:
    """The public keys an edge accepts documents from, by key id."""

    def __init__(self, keys: Iterable[Ed25519PublicKey]) -> None:
        self.keys = {key_id(k): k for k in keys}

    @classmethod
    def from_pems(cls, pems: Iterable[bytes]) -> TrustedKeys:
        return cls(load_public_key(p) for p in pems)

    def verify(self, document: Mapping[str, Any]) -> str:
        """The id of the trusted key that signed `document`; SignatureError otherwise."""
        signature = document.get("signature")
        if signature is None:
            raise SignatureError("unsigned: this node accepts only signed documents")
        if not isinstance(signature, str):
            raise SignatureError("signature: must be a string")
        scheme, _, rest = signature.partition(":")
        kid, _, encoded = rest.partition(":")
        if scheme != SCHEME or not kid or not encoded:
            raise SignatureError(f"signature: not {SCHEME}:<key id>:<signature>")
        key = self.keys.get(kid)
        if key is None:
            trusted = ", ".join(sorted(self.keys)) or "none"
            raise SignatureError(f"signed by key {kid}, which this node does not trust ({trusted})")
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError) as exc:
            raise SignatureError("signature: not base64url") from exc
        try:
            key.verify(raw, signed_bytes(document))
        except InvalidSignature as exc:
            raise SignatureError(
                f"bad signature: the document is not what key {kid} signed"
            ) from exc
        return kid
