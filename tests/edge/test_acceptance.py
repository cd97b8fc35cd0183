"""Which payloads on a node's desired topic the agent acts on, and the reasons it gives."""

from __future__ import annotations

import json

from edge.acceptance import judge
from tests.edge.documents import app, configmap, document

NODE = "edge-001"


def _doc(generation: int, **data: str):
    return document(NODE, {"web": app("web", configmap("settings", **data))}, generation)


def test_a_new_document_is_accepted() -> None:
    doc = _doc(10, color="blue")
    verdict = judge(doc.to_json(), NODE, None, "")
    assert verdict.outcome == "accept"
    assert verdict.document == doc


def test_a_document_for_another_node_is_rejected_with_both_names() -> None:
    other = document("edge-002", {"web": app("web", configmap("settings"))}, 10)
    verdict = judge(other.to_json(), NODE, None, "")
    assert verdict.outcome == "reject"
    assert verdict.rejection is not None
    assert "edge-002" in verdict.rejection.reason and NODE in verdict.rejection.reason
    assert verdict.rejection.generation == 10


def test_an_old_generation_is_rejected_but_a_redelivery_is_not() -> None:
    accepted = _doc(20, color="blue")
    older = _doc(19, color="red")
    verdict = judge(older.to_json(), NODE, accepted, accepted.digest)
    assert verdict.outcome == "reject"
    assert verdict.rejection is not None
    assert "19 is not above the last accepted 20" in verdict.rejection.reason
    assert judge(accepted.to_json(), NODE, accepted, accepted.digest).outcome == "duplicate"


def test_a_new_generation_with_applied_content_needs_no_apply() -> None:
    accepted = _doc(20, color="blue")
    again = _doc(21, color="blue")
    assert judge(again.to_json(), NODE, accepted, accepted.digest).outcome == "unchanged"


def test_garbage_is_rejected_never_raised() -> None:
    for payload in (b"\xff\xfe not json", b"[1, 2]", b"", b"{}", b'{"apiVersion": "shoal/v1"}'):
        verdict = judge(payload, NODE, None, "")
        assert verdict.outcome == "reject", payload
        assert verdict.rejection is not None and verdict.rejection.reason


def test_schema_failures_name_the_path() -> None:
    data = _doc(10).to_dict()
    data["apps"]["web"]["resources"][0]["metadata"] = {"namespace": "x"}
    verdict = judge(json.dumps(data).encode(), NODE, None, "")
    assert verdict.rejection is not None
    assert "apps.web.resources.0.metadata" in verdict.rejection.reason
    assert "'name' is a required property" in verdict.rejection.reason


def test_a_tampered_document_fails_its_digest() -> None:
    data = _doc(10, color="blue").to_dict()
    data["apps"]["web"]["resources"][0]["data"]["color"] = "red"
    verdict = judge(json.dumps(data).encode(), NODE, None, "")
    assert verdict.rejection is not None
    assert "apps.web.digest: does not match" in verdict.rejection.reason
