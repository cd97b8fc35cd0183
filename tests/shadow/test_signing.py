"""Signatures over a document's canonical JSON, verified against a set of trusted keys."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shadow import DesiredApp, DesiredDocument
from shadow.signing import (
    KeyFileError,
    SignatureError,
    SigningKey,
    TrustedKeys,
    load_public_key,
    signed_bytes,
)

WEB = DesiredApp.build(
    "1", "web", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]
)


def signed(key: SigningKey, generation: int = 7) -> dict[str, object]:
    data = DesiredDocument.build("paris-1", "abc", generation, {"web": WEB}).to_dict()
    data["signature"] = key.sign(data)
    return data


def test_a_signed_document_verifies_and_names_its_key() -> None:
    key = SigningKey.generate()
    document = signed(key)
    assert str(document["signature"]).startswith(f"ed25519:{key.key_id}:")
    assert TrustedKeys([key.public]).verify(document) == key.key_id
    # The wire form verifies too: what was signed is the canonical JSON without the field.
    wire = DesiredDocument.from_dict(document).to_json()
    assert TrustedKeys([key.public]).verify(json.loads(wire)) == key.key_id


@pytest.mark.parametrize("field", ["generation", "node", "revision", "digest"])
def test_any_changed_field_breaks_the_signature(field: str) -> None:
    key = SigningKey.generate()
    document = signed(key)
    document[field] = 8 if field == "generation" else "forged"
    with pytest.raises(SignatureError, match="bad signature"):
        TrustedKeys([key.public]).verify(document)


def test_unsigned_unknown_and_malformed_signatures_are_refused_with_reasons() -> None:
    trusted, stranger = SigningKey.generate(), SigningKey.generate()
    keys = TrustedKeys([trusted.public])
    with pytest.raises(SignatureError, match="unsigned"):
        keys.verify(DesiredDocument.build("n", "r", 1, {}).to_dict())
    with pytest.raises(
        SignatureError, match=f"key {stranger.key_id}, which this node does not trust"
    ):
        keys.verify(signed(stranger))
    for bad in ("rsa:x:y", "ed25519::", f"ed25519:{trusted.key_id}:!!!", 5):
        document = signed(trusted)
        document["signature"] = bad
        with pytest.raises(SignatureError):
            keys.verify(document)


def test_two_trusted_keys_accept_documents_from_either_during_a_rotation() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    keys = TrustedKeys.from_pems([old.public_pem(), new.public_pem()])
    assert keys.verify(signed(old)) == old.key_id
    assert keys.verify(signed(new)) == new.key_id


def test_keys_round_trip_through_pem_and_other_keys_are_named() -> None:
    key = SigningKey.generate()
    again = SigningKey.from_pem(key.private_pem())
    assert again.key_id == key.key_id
    assert signed_bytes({"b": 1, "signature": "x", "a": 2}) == b'{"a":2,"b":1}'
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    pem = ecdsa.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyFileError, match="not Ed25519"):
        SigningKey.from_pem(pem)
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(b"hello")
