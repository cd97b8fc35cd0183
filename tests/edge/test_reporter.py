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


def test_only_the_latest_report_waits_for_the_broker() -> None:
    sent: list[bytes] = []
    online = False

    def publish(payload: bytes) -> bool:
        if online:
            sent.append(payload)
        return online

    clock = Clock()
    reporter = Reporter(publish, interval=30, clock=clock)
    for state in ("Progressing", "Synced", "Degraded"):
        reporter.submit(build_report("n", None, {}, failure=state))
    assert sent == [] and reporter.pending is not None
    online = True
    reporter.reconnected()
    assert [ReportedDocument.from_json(p).message for p in sent] == ["Degraded"]


def test_unchanged_reports_wait_for_the_heartbeat() -> None:
    sent: list[bytes] = []
    clock = Clock()
    reporter = Reporter(lambda p: sent.append(p) or True, interval=30, clock=clock)
    report = build_report("n", None, {})
    reporter.submit(report)
    reporter.submit(report)
    assert len(sent) == 1
    clock.now = 31
    reporter.submit(report)
    assert len(sent) == 2
