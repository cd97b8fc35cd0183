"""The shadow contract: documents round-trip, digests are content-addressed, readers are strict
about what they need and lenient about what they do not know."""

from __future__ import annotations

import json

import pytest

import schemas
import shadow
from shadow import (
    AppStatus,
    DesiredApp,
    DesiredDocument,
    DocumentError,
    NodeInfo,
    ReportedDocument,
    Topics,
)

CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "web"},
    "data": {"a": "1"},
}


def desired(generation: int = 1, data: str = "1") -> DesiredDocument:
    res = {**CONFIGMAP, "data": {"a": data}}
    return DesiredDocument.build(
        "edge-001", "abc123", generation, {"web": DesiredApp.build("1.0", "web", [res])}
    )


def test_desired_round_trips_through_json_and_matches_schema() -> None:
    doc = desired()
    again = DesiredDocument.from_json(doc.to_json())
    assert again == doc
    schemas.validator("desired").validate(json.loads(doc.to_json()))


def test_digest_depends_on_content_not_generation_or_key_order() -> None:
    a, b = desired(generation=1), desired(generation=2)
    assert a.digest == b.digest
    assert desired(data="2").digest != a.digest
    reordered = {
        "metadata": {"name": "web"},
        "data": {"a": "1"},
        "kind": "ConfigMap",
        "apiVersion": "v1",
    }
    assert DesiredApp.build("1.0", "web", [reordered]).digest == a.apps["web"].digest


def test_tampered_content_is_rejected_with_a_path() -> None:
    data = desired().to_dict()
    data["apps"]["web"]["resources"][0]["data"]["a"] = "evil"
    with pytest.raises(DocumentError) as err:
        DesiredDocument.from_dict(data)
    assert err.value.path == "apps.web.digest"


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b"not json", ""),
        (b"[]", ""),
        (json.dumps({"apiVersion": "v0", "kind": "Desired"}).encode(), "apiVersion"),
        (json.dumps({"apiVersion": "shoal/v1", "kind": "Reported"}).encode(), "kind"),
    ],
)
def test_garbage_is_a_document_error(payload: bytes, path: str) -> None:
    with pytest.raises(DocumentError) as err:
        DesiredDocument.from_json(payload)
    assert err.value.path == path


def test_unknown_fields_are_ignored() -> None:
    data = desired().to_dict()
    data["futureField"] = {"x": 1}
    assert DesiredDocument.from_dict(data) == desired()


def test_reported_round_trips_and_meaningful_ignores_time() -> None:
    rep = ReportedDocument(
        "edge-001",
        5,
        "sha256:" + "0" * 64,
        "abc",
        "Synced",
        {"web": AppStatus("Ready")},
        NodeInfo(os="linux"),
        time="t1",
    )
    assert ReportedDocument.from_json(rep.to_json()) == rep
    schemas.validator("reported").validate(rep.to_dict())
    later = ReportedDocument(**{**rep.__dict__, "time": "t2"})
    assert later.meaningful() == rep.meaningful()
    assert later.to_dict() != rep.to_dict()


def test_topics_round_trip_and_refuse_wildcards_in_names() -> None:
    topics = Topics("fleet1")
    assert topics.desired("edge-001") == "fleet1/nodes/edge-001/desired"
    assert topics.parse("fleet1/nodes/edge-001/reported") == ("edge-001", "reported")
    assert topics.parse("other/nodes/edge-001/reported") is None
    assert topics.parse("fleet1/nodes/a/b/reported") is None
    with pytest.raises(ValueError):
        topics.desired("edge/+")


def test_generations_strictly_increase_even_when_the_clock_does_not() -> None:
    assert shadow.next_generation(None, now=100) == 100
    assert shadow.next_generation(100, now=100) == 101
    assert shadow.next_generation(500, now=100) == 501
    assert shadow.is_newer(2, 1) and not shadow.is_newer(1, 1) and shadow.is_newer(1, None)
