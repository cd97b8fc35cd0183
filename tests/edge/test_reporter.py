"""Reports go out on change and heartbeat; offline, only the latest one waits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import schemas
from edge.identity import ReportKeyError, report_signer
from edge.reporter import Reporter, build_report
from shadow import AppStatus, ReportedDocument
from shadow.reportsigning import ReportKey, ReportSigner
from shadow.signing import SigningKey
from tests.edge.documents import app, configmap, document


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reports_are_valid_and_carry_the_observed_generation() -> None:
    doc = document("edge-001", {"web": app("web", configmap("a"))}, 7)
    report = build_report("edge-001", doc, {"web": AppStatus("Ready")})
    schemas.validator("reported").validate(report.to_dict())
    assert (report.state, report.observed_generation, report.observed_digest) == (
        "Synced",
        7,
        doc.digest,
    )
    waiting = build_report("edge-001", None, {})
    schemas.validator("reported").validate(waiting.to_dict())
    assert waiting.observed_generation is None


class Link:
    """Stands in for the broker link: collects what is handed to it, numbers messages."""

    def __init__(self) -> None:
        self.online = False
        self.sent: list[tuple[int, str]] = []

    def publish(self, payload: bytes) -> int | None:
        if not self.online:
            return None
        mid = len(self.sent) + 1
        self.sent.append((mid, ReportedDocument.from_json(payload).message))
        return mid


def test_only_the_latest_report_waits_for_the_broker() -> None:
    link = Link()
    reporter = Reporter(link.publish, interval=30, clock=Clock())
    for state in ("Progressing", "Synced", "Degraded"):
        reporter.submit(build_report("n", None, {}, failure=state))
    assert link.sent == [] and reporter.pending is not None
    link.online = True
    reporter.reconnected()
    assert link.sent == [(1, "Degraded")]


def test_one_report_in_flight_so_a_resent_one_cannot_overtake_a_newer_one() -> None:
    link = Link()
    link.online = True
    reporter = Reporter(link.publish, interval=30, clock=Clock())
    reporter.submit(build_report("n", None, {}, failure="first"))
    reporter.submit(build_report("n", None, {}, failure="second"))
    reporter.submit(build_report("n", None, {}, failure="third"))
    assert link.sent == [(1, "first")], "waits for the broker to acknowledge the first"
    reporter.reconnected()  # the link dropped: paho re-sends message 1 itself
    assert link.sent == [(1, "first")]
    reporter.acknowledged(1)
    assert link.sent == [(1, "first"), (2, "third")]
    reporter.acknowledged(2)
    reporter.reconnected()  # nothing in flight: repeat the last, the broker may have lost it
    assert link.sent[-1] == (3, "third")


def test_unchanged_reports_wait_for_the_heartbeat() -> None:
    sent: list[bytes] = []

    def publish(payload: bytes) -> int:
        sent.append(payload)
        return len(sent)

    clock = Clock()
    reporter = Reporter(publish, interval=30, clock=clock)
    report = build_report("n", None, {})
    reporter.submit(report)
    reporter.acknowledged(1)
    reporter.submit(report)
    assert len(sent) == 1
    clock.now = 31
    reporter.submit(report)
    assert len(sent) == 2


def test_every_report_goes_out_signed_with_the_node_key_and_valid() -> None:
    signer = ReportSigner.generate()
    sent: list[bytes] = []
    clock = Clock()
    reporter = Reporter(lambda p: sent.append(p) or len(sent), 30, clock, signer.signed_json)
    doc = document("edge-001", {"web": app("web", configmap("a"))}, 7)
    reporter.submit(build_report("edge-001", doc, {"web": AppStatus("Progressing")}))
    reporter.acknowledged(1)
    clock.now = 31  # the heartbeat is signed too
    reporter.submit(build_report("edge-001", doc, {"web": AppStatus("Progressing")}))
    assert len(sent) == 2
    for payload in sent:
        data = json.loads(payload)
        schemas.validator("reported").validate(data)
        assert ReportKey(signer.public).verify(data) == signer.key_id


def test_the_report_key_is_the_bundle_key_unless_another_is_named(tmp_path: Path) -> None:
    node_key = tmp_path / "node.key"
    node_key.write_bytes(ReportSigner.generate().private_pem())
    signer, note = report_signer(None, str(node_key))
    assert signer is not None and note == ""
    other = tmp_path / "other.key"
    other.write_bytes(ReportSigner.generate().private_pem())
    chosen, _ = report_signer(other, str(node_key))
    assert chosen is not None and chosen.key_id != signer.key_id
    # A TLS key that cannot sign reports (here Ed25519): the agent runs, unsigned, and says so.
    odd = tmp_path / "odd.key"
    odd.write_bytes(SigningKey.generate().private_pem())
    unsigned, note = report_signer(None, str(odd))
    assert unsigned is None and note.startswith(f"reports are not signed: --key-file {odd}")
    assert report_signer(None, None) == (None, "")
    with pytest.raises(ReportKeyError, match=f"--report-key {odd}: .*not ECDSA P-256") as bad:
        report_signer(odd, None)
    assert bad.value.exit_code == 1
    with pytest.raises(ReportKeyError, match="No such file") as missing:
        report_signer(tmp_path / "nope.key", None)
    assert missing.value.exit_code == 2
