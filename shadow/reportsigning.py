"""Signed reports: a node's ECDSA P-256 signature over its Reported document.

The edge (edge/reporter.py) signs every report it publishes with its node key, the
`node.key` its bundle holds beside the certificate the fleet CA issued for it; the
controller (controller/status/verification.py) checks each report against the key
recorded for that node in the fleet repository (`reportKey:` in `nodes/<node>.yaml`)
before the status branch records it. The field follows the Desired documents'
(shadow/signing.py):

    "signature": "ecdsa-p256:<key id>:<base64url of r || s, 64 bytes, unpadded>"

What is signed is `signed_bytes(report)`: the canonical JSON of every field but
`signature`. A key id is the first 16 hex digits of the sha256 of the key's DER
SubjectPublicKeyInfo; a node file records that SubjectPublicKeyInfo in base64
(`report_key_text`). Pure: keys come in as PEM or base64 text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from shadow.documents import ReportedDocument
from shadow.signing import KeyFileError, SignatureError, signed_bytes

SCHEME = "ecdsa-p256"
_ALGORITHM = ec.ECDSA(hashes.SHA256())
_HALF = 32  # bytes of r and of s on P-256

# Why a report was refused, as counted in `shoal_reports_rejected_total{reason}`.
Reason = Literal["unsigned", "wrong-key", "bad-signature", "no-key", "bad-key"]


class ReportSignatureError(SignatureError):
    """A report that does not carry its node's signature; `reason` says how."""

    def __init__(self, reason: Reason, message: str) -> None:
        self.reason: Reason = reason
        super().__init__(message)


def _spki(public: ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def report_key_id(public: ec.EllipticCurvePublicKey) -> str:
    return hashlib.sha256(_spki(public)).hexdigest()[:16]


def report_key_text(public: ec.EllipticCurvePublicKey) -> str:
    """The public key as a node file records it: base64 of its DER SubjectPublicKeyInfo."""
    return base64.b64encode(_spki(public)).decode("ascii")


def _p256(key: object, what: str) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        raise KeyFileError(f"a {type(key).__name__.removeprefix('_')} {what}, not ECDSA P-256")
    if not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"an ECDSA {key.curve.name} {what}, not P-256")


class ReportSigner:
    """A node's private key (`node.key` of its bundle), signing its reports."""

    def __init__(self, private: ec.EllipticCurvePrivateKey) -> None:
        _p256(private, "key")
        self._private = private
        self.public = private.public_key()
        self.key_id = report_key_id(self.public)
        self._prefix = f"{SCHEME}:{self.key_id}:"

    @classmethod
    def generate(cls) -> ReportSigner:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, data: bytes) -> ReportSigner:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"not a PEM private key without a password ({exc})") from exc
        _p256(key, "key")
        return cls(key)  # type: ignore[arg-type]  # checked by _p256

    def private_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def key_text(self) -> str:
        return report_key_text(self.public)

    def sign_bytes(self, payload: bytes) -> str:
        """The signature field for a report whose `signed_bytes` are `payload`."""
        r, s = decode_dss_signature(self._private.sign(payload, _ALGORITHM))
        raw = r.to_bytes(_HALF, "big") + s.to_bytes(_HALF, "big")
        return self._prefix + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def sign(self, document: Mapping[str, Any]) -> str:
        return self.sign_bytes(signed_bytes(document))

    def signed_json(self, report: ReportedDocument) -> bytes:
        """`report` as published: its canonical JSON with the signature over the rest."""
        unsigned = report if report.signature is None else replace(report, signature=None)
        # to_json is canonical_json(to_dict()) (made encodable), so it is what the
        # controller gets back from signed_bytes of the decoded payload.
        return replace(unsigned, signature=self.sign_bytes(unsigned.to_json())).to_json()


class ReportKey:
    """The public key a node file records (`reportKey:`): verifies that node's reports."""

    def __init__(self, public: ec.EllipticCurvePublicKey) -> None:
        _p256(public, "public key")
        self.public = public
        self.key_id = report_key_id(public)

    @classmethod
    def from_text(cls, text: str) -> ReportKey:
        """From the base64 SubjectPublicKeyInfo of a node file."""
        try:
            der = base64.b64decode("".join(text.split()), validate=True)
            key = serialization.load_der_public_key(der)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise KeyFileError("not a base64 DER public key (SubjectPublicKeyInfo)") from exc
        _p256(key, "public key")
        return cls(key)  # type: ignore[arg-type]  # checked by _p256

    @classmethod
    def from_certificate(cls, pem: bytes) -> ReportKey:
        """The key of a node certificate (PEM), as provisioning records it."""
        from cryptography import x509

        try:
            public = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError as exc:
            raise KeyFileError("not a PEM certificate") from exc
        _p256(public, "public key")
        return cls(public)  # type: ignore[arg-type]  # checked by _p256

    def text(self) -> str:
        return report_key_text(self.public)

    def verify(self, document: Mapping[str, Any]) -> str:
        """This key's id when it signed `document`; `ReportSignatureError` otherwise."""
        signature = document.get("signature")
        if signature is None:
            raise ReportSignatureError(
                "unsigned", f"unsigned, but the node's key {self.key_id} is recorded in git"
            )
        if not isinstance(signature, str):
            raise ReportSignatureError("bad-signature", "signature: must be a string")
        scheme, _, rest = signature.partition(":")
        kid, _, encoded = rest.partition(":")
        if scheme != SCHEME or not kid or not encoded:
            raise ReportSignatureError(
                "bad-signature", f"signature: not {SCHEME}:<key id>:<signature>"
            )
        if kid != self.key_id:
            raise ReportSignatureError(
                "wrong-key", f"signed by key {kid}, not the node's recorded key {self.key_id}"
            )
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 2 * _HALF:
            raise ReportSignatureError("bad-signature", "signature: not 64 base64url bytes")
        der = encode_dss_signature(
            int.from_bytes(raw[:_HALF], "big"), int.from_bytes(raw[_HALF:], "big")
        )
        try:
            self.public.verify(der, signed_bytes(document), _ALGORITHM)
        except (InvalidSignature, UnicodeEncodeError, ValueError) as exc:
            raise ReportSignatureError(
                "bad-signature", f"bad signature: the report is not what key {kid} signed"
            ) from exc
        return kid
