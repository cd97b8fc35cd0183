"""The `agent` block of a Desired document: which agent release a node should run."""

from __future__ import annotations

import json

import pytest

from shadow import AgentRelease, DesiredApp, DesiredDocument, DocumentError, node_digest

SHA = "ab" * 32
WEB = DesiredApp.build(
    "1", "web", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]
)


def test_a_document_without_an_agent_block_keeps_its_digest() -> None:
    assert node_digest({"web": WEB}) == node_digest({"web": WEB}, None)
    doc = DesiredDocument.build("n", "r", 1, {"web": WEB})
    assert "agent" not in doc.to_dict()


def test_the_agent_release_is_covered_by_the_digest_and_round_trips() -> None:
    release = AgentRelease("0.2.0", url="file:///w/shoal-0.2.0-py3-none-any.whl", sha256=SHA)
    doc = DesiredDocument.build("n", "r", 1, {"web": WEB}, release)
    other = DesiredDocument.build("n", "r", 1, {"web": WEB}, AgentRelease("0.3.0", image="x:0.3.0"))
    assert len({doc.digest, other.digest, node_digest({"web": WEB})}) == 3
    back = DesiredDocument.from_json(doc.to_json())
    assert back == doc and back.agent == release


def test_a_tampered_agent_block_breaks_the_digest() -> None:
    doc = DesiredDocument.build(
        "n", "r", 1, {}, AgentRelease("0.2.0", url="file:///a.whl", sha256=SHA)
    )
    data = json.loads(doc.to_json())
    data["agent"]["sha256"] = "cd" * 32
    with pytest.raises(DocumentError, match="digest"):
        DesiredDocument.from_dict(data)


@pytest.mark.parametrize(
    ("block", "path"),
    [
        ({"url": "file:///a.whl", "sha256": SHA}, "agent.version"),
        ({"version": "1", "url": "file:///a.whl"}, "agent.sha256"),
        ({"version": "1", "sha256": "nothex"}, "agent.sha256"),
        ({"version": "1", "healthTimeoutSeconds": 0}, "agent.healthTimeoutSeconds"),
        ("0.2.0", "agent"),
    ],
)
def test_a_malformed_agent_block_is_refused_naming_the_field(block: object, path: str) -> None:
    data = json.loads(DesiredDocument.build("n", "r", 1, {}).to_json())
    data["agent"] = block
    with pytest.raises(DocumentError) as caught:
        DesiredDocument.from_dict(data, verify=False)
    assert caught.value.path == path


def test_a_report_carries_the_last_incomplete_agent_update() -> None:
    from shadow import AgentUpdate, ReportedDocument

    update = AgentUpdate(
        "0.3.0", "reverted", "agent 0.3.0 exited with code 1 before it was healthy"
    )
    report = ReportedDocument("n", 1, "sha256:x", "r", "Synced", agent_update=update)
    back = ReportedDocument.from_json(report.to_json())
    assert back.agent_update == update
    data = json.loads(report.to_json())
    data["agentUpdate"]["state"] = "exploded"
    with pytest.raises(DocumentError) as caught:
        ReportedDocument.from_dict(data)
    assert caught.value.path == "agentUpdate.state"
