"""The canonical encoding, and the assembly from encoded parts that the fast paths use."""

from __future__ import annotations

import pytest

from shadow import canonical_array, canonical_json, canonical_object, digest

VALUE = {"b": [1, {"z": "é", "a": None}], "a": 'x"y', "é": 1.5, "c": True}


def test_canonical_json_sorts_keys_is_compact_and_utf8() -> None:
    assert canonical_json(VALUE) == (
        '{"a":"x\\"y","b":[1,{"a":null,"z":"é"}],"c":true,"é":1.5}'.encode()
    )


def test_an_object_assembled_from_encoded_members_is_byte_identical() -> None:
    members = {key: canonical_json(value) for key, value in VALUE.items()}
    assert canonical_object(members) == canonical_json(VALUE)
    items = [canonical_json(value) for value in VALUE["b"]]
    assert canonical_array(items) == canonical_json(VALUE["b"])
    assert canonical_object({}) == b"{}" and canonical_array([]) == b"[]"


def test_nan_has_no_canonical_encoding() -> None:
    with pytest.raises(ValueError):
        digest({"x": float("nan")})
