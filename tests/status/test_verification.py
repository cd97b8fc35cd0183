"""Which reports the status intake takes, by the keys git records: a node with a reportKey
must sign with it, one without is taken unverified (or refused when fleet.yaml requires
signatures), a new key refuses the old one's reports, and refusals are logged once a while."""

from __future__ import annotations

import logging

import pytest

from controller.status.book import StatusBook
from controller.status.intake import Intake, Taken
from controller.status.verification import LOG_EVERY, NodeKeys, ReportVerifier
from shadow import Topics
from shadow.reportsigning import ReportSigner
from tests.support.reports import report

TOPICS = Topics("shoal")
NODES = frozenset({"paris-1", "lyon-1"})


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def intake(keys: NodeKeys, clock: Clock | None = None) -> tuple[Intake, list[str]]:
    counted: list[str] = []
    verifier = ReportVerifier(lambda: keys, clock or Clock())
    return Intake(TOPICS, lambda: NODES, counted.append, verifier), counted


def take(judge: Intake, node: str, signer: ReportSigner | None, state: str = "Synced") -> Taken:
    document = report(node, state=state)
    payload = signer.signed_json(document) if signer else document.to_json()
    return judge.take(TOPICS.reported(node), payload)


def test_a_node_with_a_key_must_sign_one_without_is_taken_unverified() -> None:
    paris = ReportSigner.generate()
    judge, counted = intake(NodeKeys({"paris-1": paris.key_text()}))
    taken = take(judge, "paris-1", paris)
    assert (taken.verdict, taken.key_id) == ("report", paris.key_id)
    assert take(judge, "paris-1", None).verdict == "refused"
    assert take(judge, "paris-1", ReportSigner.generate()).verdict == "refused"
    assert counted == ["report-unsigned", "report-wrong-key"]
    assert "signed by key" in judge.refused["paris-1"]
    # lyon-1 has no key in git (provisioned before signed reports): taken, unverified.
    for signer in (None, ReportSigner.generate()):
        taken = take(judge, "lyon-1", signer)
        assert (taken.verdict, taken.key_id) == ("report", None)
    # The status files say which.
    book = StatusBook()
    book.record(take(judge, "paris-1", paris).report, paris.key_id)  # type: ignore[arg-type]
    book.record(take(judge, "lyon-1", None).report)  # type: ignore[arg-type]
    assert book.entry("paris-1")["verified"] is True  # type: ignore[index]
    assert book.entry("paris-1")["keyId"] == paris.key_id  # type: ignore[index]
    assert book.entry("lyon-1")["verified"] is False  # type: ignore[index]
    assert "keyId" not in book.entry("lyon-1")  # type: ignore[operator]
    assert "paris-1" not in judge.refused  # a good report clears the refusal


def test_require_signature_refuses_nodes_without_a_key() -> None:
    paris = ReportSigner.generate()
    judge, counted = intake(NodeKeys({"paris-1": paris.key_text()}, require_signature=True))
    assert take(judge, "paris-1", paris).verdict == "report"
    assert take(judge, "lyon-1", ReportSigner.generate()).verdict == "refused"
    assert counted == ["report-no-key"]
    assert "reports.requireSignature" in judge.refused["lyon-1"]


def test_a_new_key_in_git_refuses_reports_signed_with_the_old_one() -> None:
    old, new = ReportSigner.generate(), ReportSigner.generate()
    keys = {"paris-1": old.key_text()}
    verifier = ReportVerifier(lambda: NodeKeys(dict(keys)))
    judge = Intake(TOPICS, lambda: NODES, verifier=verifier)
    before = report("paris-1").to_json()
    signed_old = old.signed_json(report("paris-1"))
    assert judge.take(TOPICS.reported("paris-1"), signed_old).verdict == "report"
    keys["paris-1"] = new.key_text()  # the re-provisioning commit landed
    # Even the very payload verified before (the broker handing it out again).
    assert judge.take(TOPICS.reported("paris-1"), signed_old).verdict == "refused"
    assert judge.take(TOPICS.reported("paris-1"), before).verdict == "refused"
    taken = judge.take(TOPICS.reported("paris-1"), new.signed_json(report("paris-1")))
    assert (taken.verdict, taken.key_id) == ("report", new.key_id)


def test_a_key_git_records_that_cannot_verify_refuses_and_says_so() -> None:
    judge, counted = intake(
        NodeKeys({"paris-1": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + "A" * 86 + "=="})
    )
    assert take(judge, "paris-1", ReportSigner.generate()).verdict == "refused"
    assert counted == ["report-bad-key"]
    assert "the reportKey recorded for node 'paris-1' cannot verify" in judge.refused["paris-1"]


def test_refusals_are_logged_once_per_node_then_at_most_every_few_minutes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    paris = ReportSigner.generate()
    judge, counted = intake(NodeKeys({"paris-1": paris.key_text()}), clock)
    stranger = ReportSigner.generate()
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            take(judge, "paris-1", stranger, state="Failed")
        assert len(caplog.records) == 1
        clock.now = LOG_EVERY + 1
        take(judge, "paris-1", stranger)
    assert len(counted) == 51  # every one is counted
    assert len(caplog.records) == 2
    assert "(49 more refused before)" in caplog.records[1].getMessage()
