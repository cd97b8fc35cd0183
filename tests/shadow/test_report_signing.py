"""Reports signed with the node's ECDSA P-256 key, verified against the key its node file
records: a tampered field, another key, a missing or mangled signature are each refused."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from shadow import ReportedDocument
from shadow.reportsigning import ReportKey, ReportSignatureError, ReportSigner
from shadow.signing import KeyFileError
from tests.support.reports import report


def wire(signer: ReportSigner, document: ReportedDocument | None = None) -> dict[str, object]:
    """What the controller decodes from the payload an edge publishes."""
    data: dict[str, object] = json.loads(signer.signed_json(document or report("paris-1")))
    return data


def refusal(key: ReportKey, data: dict[str, object]) -> ReportSignatureError:
    with pytest.raises(ReportSignatureError) as caught:
        key.verify(data)
    return caught.value


def test_a_signed_report_verifies_against_the_recorded_key_and_still_parses() -> None:
    signer = ReportSigner.generate()
    data = wire(signer)
    assert str(data["signature"]).startswith(f"ecdsa-p256:{signer.key_id}:")
    recorded = ReportKey.from_text(signer.key_text())  # as nodes/<node>.yaml holds it
    assert recorded.key_id == signer.key_id
    assert recorded.verify(data) == signer.key_id
    parsed = ReportedDocument.from_dict(data)
    assert parsed.signature == data["signature"]
    # The signature is not what a status commit compares: heartbeats still make none.
    assert parsed.meaningful() == report("paris-1").meaningful()


def test_text_the_edge_must_replace_still_verifies() -> None:
    signer = ReportSigner.generate()
    data = wire(signer, report("paris-1", message="bad \udcff byte"))
    assert data["message"] == "bad ? byte"
    assert ReportKey(signer.public).verify(data) == signer.key_id


def test_a_tampered_field_is_a_bad_signature() -> None:
    signer = ReportSigner.generate()
    key = ReportKey(signer.public)
    for field, value in [("state", "Failed"), ("revision", "f" * 40), ("time", "2030")]:
        data = wire(signer)
        data[field] = value
        error = refusal(key, data)
        assert error.reason == "bad-signature", field
        assert f"not what key {signer.key_id} signed" in str(error)
    data = wire(signer)
    data["extra"] = "added after signing"
    assert refusal(key, data).reason == "bad-signature"


def test_another_key_a_missing_or_mangled_signature_are_refused() -> None:
    node, stranger = ReportSigner.generate(), ReportSigner.generate()
    key = ReportKey(node.public)
    wrong = refusal(key, wire(stranger))
    assert wrong.reason == "wrong-key"
    assert f"signed by key {stranger.key_id}, not the node's recorded key {key.key_id}" in str(
        wrong
    )
    # A stranger who copies the node's key id into its own signature.
    data = wire(stranger)
    data["signature"] = str(data["signature"]).replace(stranger.key_id, node.key_id)
    assert refusal(key, data).reason == "bad-signature"
    unsigned = json.loads(report("paris-1").to_json())
    assert refusal(key, unsigned).reason == "unsigned"
    for mangled in [
        "",
        "ed25519:x:y",
        f"ecdsa-p256:{node.key_id}:",
        f"ecdsa-p256:{node.key_id}:!!",
        5,
    ]:
        data = wire(node)
        data["signature"] = mangled
        assert refusal(key, data).reason == "bad-signature", mangled


def test_keys_that_are_not_p256_are_named() -> None:
    with pytest.raises(KeyFileError, match="not a base64 DER public key"):
        ReportKey.from_text("not base64 at all!")
    with pytest.raises(KeyFileError, match="secp384r1 public key, not P-256"):
        ReportKey(ec.generate_private_key(ec.SECP384R1()).public_key())
    with pytest.raises(KeyFileError, match="not ECDSA P-256"):
        ReportSigner(ed25519.Ed25519PrivateKey.generate())  # type: ignore[arg-type]
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        ReportSigner.from_pem(b"-----BEGIN NOTHING-----\n")
