"""The filters and functions templates can use (docs/fleet-repository.md, "Templates")."""

from __future__ import annotations

import hashlib

import pytest

from controller.render.filters import b64decode, b64encode, combine, hash_filter, to_json, to_yaml


def test_to_yaml_is_block_style_without_trailing_newline() -> None:
    assert to_yaml({"b": 1, "a": [1, "x"]}) == "b: 1\na:\n- 1\n- x"
    assert to_yaml("plain") == "plain"


def test_to_json_keeps_order_and_unicode() -> None:
    assert to_json({"b": 1, "a": "é"}) == '{"b": 1, "a": "é"}'
    assert to_json({"b": 1, "a": 2}, sort_keys=True) == '{"a": 2, "b": 1}'


def test_base64_round_trip() -> None:
    assert b64encode("hello") == "aGVsbG8="
    assert b64decode("aGVsbG8=") == "hello"
    with pytest.raises(ValueError, match="not valid base64"):
        b64decode("not base64!")


def test_combine_deep_merges_by_default() -> None:
    low = {"a": 1, "nested": {"x": 1, "y": 1}, "list": [1]}
    high = {"nested": {"y": 2}, "list": [2]}
    assert combine(low, high) == {"a": 1, "nested": {"x": 1, "y": 2}, "list": [2]}
    assert combine(low, high, recursive=False) == {"a": 1, "nested": {"y": 2}, "list": [2]}
    assert combine(low, high, list_merge="append")["list"] == [1, 2]
    assert combine(low, {"c": 3}, {"c": 4}) == {**low, "c": 4}
    assert low == {"a": 1, "nested": {"x": 1, "y": 1}, "list": [1]}  # inputs untouched


def test_combine_refuses_non_dicts() -> None:
    with pytest.raises(ValueError, match="expected dicts, got list"):
        combine({}, [1])


def test_hash_is_sha256_hex_by_default() -> None:
    assert hash_filter("abc") == hashlib.sha256(b"abc").hexdigest()
    assert hash_filter("abc", "sha1") == hashlib.sha1(b"abc").hexdigest()
    assert hash_filter({"b": 1, "a": 2}) == hash_filter({"a": 2, "b": 1})  # canonical JSON
    with pytest.raises(ValueError, match="unknown algorithm 'crc'"):
        hash_filter("abc", "crc")
