"""docs/ARCHITECTURE.md and the tree agree: every module is named, every named module exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("controller", "edge", "shadow", "transport", "shoal")
NAMED = re.compile(r"`((?:" + "|".join(PACKAGES) + r")/[\w/]+\.py)`")


def modules() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "fleet-template" not in path.parts
    }


def test_every_module_is_named_in_the_architecture_document() -> None:
    named = set(NAMED.findall(DOC.read_text()))
    assert sorted(modules() - named) == []


def test_every_module_the_document_names_exists() -> None:
    named = set(NAMED.findall(DOC.read_text()))
    assert sorted(named - modules()) == []
