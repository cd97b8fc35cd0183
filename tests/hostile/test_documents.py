"""Hostile Desired documents: the edge judges them within limits and says which limit;
a forged generation from the future locks no node out; the controller adopts none."""

from __future__ import annotations

import json

import pytest

from controller.service.readback import retained_entry
from edge.acceptance import MAX_AHEAD_MS, judge
from shadow import now_ms
from shadow.limits import DecodeLimits
from tests.edge.documents import app, configmap, document

NODE = "edge-001"
NOW = 1_800_000_000_000


def doc(generation: int, color: str = "blue"):  # type: ignore[no-untyped-def]
    return document(NODE, {"web": app("web", configmap("settings", color=color))}, generation)


def reason(payload: bytes, **kwargs: object) -> str:
    verdict = judge(payload, NODE, None, "", now=NOW, **kwargs)  # type: ignore[arg-type]
    assert verdict.outcome == "reject"
    assert verdict.rejection is not None
    return verdict.rejection.reason


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 100 levels deep (the depth limit)"),
        (b'{"a": ' * 150 + b"1" + b"}" * 150, "nested more than 100 levels deep (the depth limit)"),
        (b" " * (8 * 1024 * 1024 + 1), "8,388,609 bytes, over the size limit of 8,388,608 bytes"),
        (b'{"kind": "\\ud800"}', "holds text that is not valid Unicode (a lone surrogate escape"),
        (b"\xc3\x28", "not UTF-8 text (byte 0)"),
        (b'{"generation": ' + b"9" * 5000 + b"}", "Exceeds the limit (4300 digits)"),
    ],
    ids=["deep-array", "deep-object", "over-size", "lone-surrogate", "not-utf8", "huge-integer"],
)
def test_a_hostile_payload_is_rejected_naming_the_limit(payload: bytes, expected: str) -> None:
    assert expected in reason(payload)


def test_the_size_limit_is_the_edges_to_set() -> None:
    payload = doc(NOW).to_json()
    small = DecodeLimits(max_bytes=100, max_depth=100)
    assert "over the size limit of 100 bytes" in reason(payload, limits=small)


def test_a_generation_more_than_a_day_ahead_is_refused() -> None:
    forged = doc(NOW + MAX_AHEAD_MS + 1)
    assert "more than a day ahead of this node's clock" in reason(forged.to_json())
    assert judge(doc(NOW + MAX_AHEAD_MS).to_json(), NODE, None, "", now=NOW).outcome == "accept"


def test_a_stored_forged_generation_does_not_lock_the_node_out() -> None:
    # Accepted before the edge knew better (or written into its store by hand).
    forged = doc(10**15, color="evil")
    honest = doc(NOW, color="blue")
    verdict = judge(honest.to_json(), NODE, forged, forged.digest, now=NOW)
    assert verdict.outcome == "accept"


def test_the_controller_adopts_no_generation_from_the_future() -> None:
    forged = json.dumps({"generation": now_ms() + 2 * MAX_AHEAD_MS, "digest": "sha256:x"})
    assert retained_entry(forged.encode()) is None
    honest = json.dumps({"generation": now_ms(), "digest": "sha256:x"})
    assert retained_entry(honest.encode()) == (json.loads(honest)["generation"], "sha256:x")


@pytest.mark.parametrize(
    "payload",
    [b"[" * 100_000, b"\xff", b"[1, 2]", b'{"generation": true, "digest": 1}', b"null"],
    ids=["unclosed-deep", "not-utf8", "a-list", "wrong-types", "null"],
)
def test_garbage_retained_on_a_desired_topic_is_ignored_by_the_read_back(payload: bytes) -> None:
    assert retained_entry(payload) is None


def test_a_report_holding_a_lone_surrogate_is_still_sent_as_utf8() -> None:
    from shadow import ReportedDocument
    from tests.support.reports import report

    # An API server message passed on as is (JSON can carry the escape, UTF-8 cannot).
    bad = ReportedDocument(**{**report(NODE).__dict__, "message": "broken \ud800 text"})
    payload = bad.to_json()
    assert ReportedDocument.from_json(payload).message == "broken ? text"


def test_a_ledger_that_adopted_a_forged_generation_forgets_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from controller.service.ledger import Ledger

    path = tmp_path / "ledger.json"
    ledger = Ledger(path)
    ledger.issue({"edge-001": (10**15, "sha256:x"), "edge-002": (now_ms(), "sha256:y")})
    assert Ledger(path).nodes() == ["edge-002"]
