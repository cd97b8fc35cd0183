"""Crash-safe replacement: the old or the new content, never half, never a stray temp file."""

from __future__ import annotations

from pathlib import Path

import pytest

from transport.atomicfile import replace_atomically


def test_replaces_the_content_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "ledger.json"
    replace_atomically(target, b"old")
    replace_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]


def test_a_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "desired.json"
    replace_atomically(target, b"old")
    with pytest.raises(TypeError):
        replace_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["desired.json"]
