"""Reports go out on change and heartbeat; offline, only the latest one waits."""

from __future__ import annotations

import schemas
from edge.reporter import Reporter, build_report
from shadow import AppStatus, ReportedDocument
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
