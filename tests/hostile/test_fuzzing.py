"""Property-based fuzzing (hypothesis) of the three doors hostile bytes come in by:
Desired acceptance on the edge, report intake in the status writer, fleet YAML loading.

Bounded and deterministic for CI (`derandomize`, a fixed example count); set
SHOAL_FUZZ_EXAMPLES to run more locally, e.g. SHOAL_FUZZ_EXAMPLES=5000.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.fleet.yamlreader import YamlSyntaxError, load_all, read_yaml
from controller.status.book import StatusBook
from controller.status.intake import Intake
from edge.acceptance import judge
from shadow import Topics
from tests.edge.documents import app, configmap, document
from tests.support.reports import report

FUZZ = settings(
    max_examples=int(os.environ.get("SHOAL_FUZZ_EXAMPLES", "100")),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NODE = "edge-001"
TOPICS = Topics("shoal")

# JSON-ish values, including the awkward ones: surrogates, huge and negative numbers.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec=None), max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def mutate(base: dict[str, Any], path: list[str], value: Any) -> bytes:
    """`base` with the value at `path` (as far as it exists) replaced, as JSON bytes."""
    data = json.loads(json.dumps(base))
    target = data
    for key in path[:-1]:
        if isinstance(target, dict) and isinstance(target.get(key), dict):
            target = target[key]
    if isinstance(target, dict) and path:
        target[path[-1]] = value
    return json.dumps(data, ensure_ascii=True).encode()


DESIRED = document(NODE, {"web": app("web", configmap("settings", color="blue"))}, 10).to_dict()
DESIRED_KEYS = ["node", "generation", "digest", "apps", "revision", "kind", "apiVersion"]
REPORTED = report(NODE).to_dict()
REPORTED_KEYS = ["node", "state", "apps", "message", "rejected", "observedGeneration", "time"]


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_on_the_desired_topic_get_a_verdict(payload: bytes) -> None:
    assert judge(payload, NODE, None, "").outcome in ("accept", "unchanged", "reject")


@FUZZ
@given(st.lists(st.sampled_from(DESIRED_KEYS), min_size=1, max_size=3), values)
def test_a_mutated_desired_document_gets_a_verdict(path: list[str], value: Any) -> None:
    verdict = judge(mutate(DESIRED, path, value), NODE, None, "")
    assert verdict.outcome in ("accept", "unchanged", "reject")
    if verdict.outcome == "reject":
        assert verdict.rejection is not None and verdict.rejection.reason


def take_and_commit(payload: bytes) -> None:
    """What the writer does with a payload: intake, the book, the files as UTF-8."""
    intake = Intake(TOPICS, lambda: frozenset({NODE}))
    taken = intake.take(TOPICS.reported(NODE), payload)
    assert intake.counts.get("failed", 0) == 0, intake.last_failure
    if taken.report is None:
        assert taken.verdict in ("refused", "ignored")
        return
    book = StatusBook()
    book.record(taken.report)
    change = book.changes()
    assert change is not None
    for text in change.files.values():
        assert text is not None
        text.encode("utf-8")  # a status commit can always be written
    change.message.encode("utf-8")


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_on_a_reported_topic_are_taken_or_refused(payload: bytes) -> None:
    take_and_commit(payload)


@FUZZ
@given(st.lists(st.sampled_from(REPORTED_KEYS), min_size=1, max_size=3), values)
def test_a_mutated_report_is_taken_or_refused_never_a_blocked_commit(
    path: list[str], value: Any
) -> None:
    take_and_commit(mutate(REPORTED, path, value))


def check_yaml(text: str) -> None:
    try:
        document = read_yaml(text)
    except YamlSyntaxError as exc:
        assert exc.message
    else:
        json.dumps(document.data, default=str)  # plain data, finite
    with contextlib.suppress(YamlSyntaxError):
        list(load_all(text))


@FUZZ
@given(st.text(max_size=400))
def test_any_text_as_a_fleet_file_is_data_or_a_syntax_error(text: str) -> None:
    check_yaml(text)


yaml_pieces = st.sampled_from(
    [
        "a: ",
        "- ",
        "&x ",
        "*x",
        "&y ",
        "*y",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "\n",
        "  ",
        "b: 1",
        "<<: *x",
        "!!binary aGk=",
        "? ",
        ": ",
        "'q'",
        '"\\ud800"',
        "2024-01-01",
        "~",
    ]
)


@FUZZ
@given(st.lists(yaml_pieces, max_size=40).map("".join))
def test_yaml_built_from_anchors_aliases_and_brackets_is_bounded(text: str) -> None:
    check_yaml(text)
