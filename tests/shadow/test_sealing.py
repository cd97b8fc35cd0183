"""Sealed values: only the node a value was sealed to can open it, and nothing shows it."""

from __future__ import annotations

import base64
import json

import pytest

from shadow.sealing import (
    SealingError,
    holds_sealed,
    new_identity,
    parse_token,
    redact,
    seal,
    unseal,
    unseal_object,
)


def test_the_node_sealed_to_opens_it_and_another_cannot() -> None:
    mine, my_recipient = new_identity()
    theirs, _ = new_identity()
    sealed = seal("db-password", b"hunter2", my_recipient)
    assert b"hunter2" not in sealed.ciphertext and "hunter2" not in sealed.token()
    assert unseal(parse_token(sealed.token()) or sealed, [mine]) == b"hunter2"
    with pytest.raises(SealingError, match="not sealed to this node"):
        unseal(sealed, [theirs])


def test_the_edge_opens_tokens_in_a_secrets_data_and_string_data() -> None:
    identity, recipient = new_identity()
    token = seal("db-password", b"s3cret", recipient).token()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"password": token, "plain": "cGxhaW4="},
        "stringData": {"url": token},
    }
    opened = unseal_object(secret, [identity])
    assert base64.b64decode(opened["data"]["password"]) == b"s3cret"
    assert opened["data"]["plain"] == "cGxhaW4="
    assert opened["stringData"]["url"] == "s3cret"
    assert secret["data"]["password"] == token  # the document itself is not changed


def test_everything_else_sees_only_the_display_form() -> None:
    _, recipient = new_identity()
    sealed = seal("db-password", b"hunter2", recipient)
    shown = redact({"data": {"password": sealed.token()}, "list": [f"x {sealed.token()} y"]})
    text = json.dumps(shown)
    assert "shoal-sealed" not in text and sealed.display() in text
    assert sealed.display().startswith("<sealed db-password sha256:")
    assert holds_sealed({"a": [sealed.token()]}) and not holds_sealed(shown)


def test_bad_recipients_and_damaged_tokens_are_named() -> None:
    with pytest.raises(SealingError, match="not an age recipient"):
        seal("x", b"v", "age1notakey")
    assert parse_token("shoal-sealed:v1:x:%%%") is None
    assert parse_token("hello") is None
