"""The status files' YAML writer reads back exactly, whatever the strings hold."""

from __future__ import annotations

import pytest
import yaml

from controller.status.book import node_entry, summarize
from controller.status.yamltext import to_yaml
from tests.support.reports import report

NASTY = [
    "",
    "yes",
    "No",
    "off",
    "null",
    "~",
    "y",
    "123",
    "0x1f",
    "1e5",
    "1:20",
    "2026-11-25",
    "007",
    ".inf",
    "-",
    "- item",
    "key: value",
    "a #comment",
    "#start",
    "'single'",
    '"double"',
    "back\\slash",
    "multi\nline\n",
    "tab\there",
    "trailing ",
    " leading",
    "[flow]",
    "{flow}",
    "&anchor",
    "*alias",
    "!tag",
    "%directive",
    "@at",
    "`tick`",
    "|",
    ">",
    "?",
    "sha256:0a1b",
    'ImagePullBackOff: back-off pulling image "nginx:9.9"',
    "café",
    "日本語",
    "emoji 🚀",
    "line\u2028separator",
    "nel\x85",
    "bom\ufeff",
    "bell\x07",
    "surrogate-free \U0001f600",
]


@pytest.mark.parametrize("text", NASTY)
def test_any_string_round_trips_as_value_key_and_list_item(text: str) -> None:
    data = {"value": text, text or "empty": {"nested": [text, {"k": text}]}}
    assert yaml.safe_load(to_yaml(data)) == data


def test_other_scalars_and_empty_containers_round_trip() -> None:
    data = {
        "int": 1795566023325,
        "neg": -3,
        "float": 1.5,
        "true": True,
        "false": False,
        "none": None,
        "empty_map": {},
        "empty_list": [],
        "list_of_lists": [[1, 2], [], ["a"]],
    }
    assert yaml.safe_load(to_yaml(data)) == data


def test_node_entries_and_summaries_round_trip() -> None:
    entries = [
        node_entry(
            report("edge-01", revision="0" * 40, apps={"web": "Failed", "db": "Ready"}), True
        ),
        node_entry(report("edge-02", state="Progressing", apps={}), False),
    ]
    for entry in entries:
        assert yaml.safe_load(to_yaml(entry)) == entry
    summary = summarize(entries)
    assert yaml.safe_load(to_yaml(summary)) == summary
