"""The status files' fast reader returns what PyYAML returns, or steps aside for it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.status import yamlread
from controller.status.book import node_entry, parse_entry, summarize
from controller.status.yamltext import to_yaml
from tests.status.test_yamltext import NASTY
from tests.support.reports import report


def same(a: Any, b: Any) -> bool:
    """Equal, with equal types all the way down (True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
scalars = st.one_of(texts, st.integers(), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)
documents = st.dictionaries(texts, values, min_size=1, max_size=5)
EDITS = [" ", " # note", "\n  extra: 1", "\n---", "\t"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_what_yamltext_writes_is_read_back_as_pyyaml_reads_it(data: dict[str, Any]) -> None:
    text = to_yaml(data)
    assert same(yamlread.load(text), yaml.safe_load(text))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.integers(min_value=0), st.sampled_from(EDITS))
def test_a_file_edited_by_hand_is_read_as_pyyaml_reads_it(
    data: dict[str, Any], where: int, edit: str
) -> None:
    lines = to_yaml(data).split("\n")
    lines[where % len(lines)] += edit
    text = "\n".join(lines)
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        expected = None
    try:
        got = yamlread.load(text)
    except yamlread.NotOurs:
        return  # PyYAML reads it (parse_entry falls back)
    assert expected is not None and same(got, expected), text


@pytest.mark.parametrize(
    "text",
    [
        "node: edge-01\nstate: Synced\n",
        "node: edge-01 # hand-edited\nstate: Synced\n",
        "node: 'edge-01'\nstate: Synced\nratio: 1.5\n",
        "node: edge-01\nonline: yes\napps: {web: {state: Ready}}\n",
        "---\nnode: edge-01\n",
    ],
)
def test_parse_entry_reads_both_its_own_files_and_hand_edited_ones(text: str) -> None:
    assert parse_entry(text) == yaml.safe_load(text)


def test_real_status_files_take_the_fast_path() -> None:
    entry = node_entry(report("edge-01", state="Failed", message='boom: "x"\nnext'), None)
    for data in (entry, summarize([entry])):
        text = to_yaml(data)
        assert same(yamlread.load(text), yaml.safe_load(text))
