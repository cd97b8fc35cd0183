"""StatusBook: which reports make a commit, what the files and the message say."""

from __future__ import annotations

import yaml

from controller.status.book import StatusBook, meaningful, node_entry
from tests.support.reports import report

REV1 = "1" * 40
REV2 = "2" * 40


def test_first_reports_are_pending_and_written_one_file_per_node() -> None:
    book = StatusBook()
    assert book.record(report("edge-01", revision=REV1))
    assert book.record(report("edge-02", revision=REV1))
    change = book.changes()
    assert change is not None
    assert set(change.files) == {"nodes/edge-01.yaml", "nodes/edge-02.yaml", "summary.yaml"}
    entry = yaml.safe_load(change.files["nodes/edge-01.yaml"])
    assert entry["node"] == "edge-01"
    assert entry["state"] == "Synced"
    assert entry["observed"]["revision"] == REV1
    assert entry["observed"]["generation"] == 1
    assert entry["apps"] == {"web": {"state": "Ready", "message": ""}}
    assert entry["online"] is True
    assert entry["lastReport"] == "2026-11-25T00:00:00Z"


def test_a_heartbeat_alone_makes_no_commit() -> None:
    book = StatusBook()
    book.record(report("edge-01", revision=REV1))
    change = book.changes()
    assert change is not None
    book.mark_committed(change)
    assert not book.record(report("edge-01", revision=REV1, time="2026-11-25T00:05:00Z"))
    assert not book.record(report("edge-01", revision=REV1, hostname="renamed"))
    assert book.changes() is None
    # ...but the newest heartbeat is what the next meaningful commit writes.
    assert book.record(report("edge-01", revision=REV2, time="2026-11-25T00:06:00Z"))
    change = book.changes()
    assert change is not None
    assert yaml.safe_load(change.files["nodes/edge-01.yaml"])["lastReport"].endswith("00:06:00Z")


def test_state_revision_generation_app_state_and_message_are_meaningful() -> None:
    base = report("n", revision=REV1)
    book = StatusBook()
    book.record(base)
    book.mark_committed(book.changes())  # type: ignore[arg-type]
    for changed in (
        report("n", revision=REV2),
        report("n", revision=REV1, generation=2),
        report("n", revision=REV1, state="Progressing", apps={"web": "Progressing"}),
        report("n", revision=REV1, message="store is read-only"),
        report("n", revision=REV1, apps={"web": "Ready", "db": "Ready"}),
    ):
        assert book.record(changed), changed
        back = report("n", revision=REV1, time="2026-11-25T00:01:00Z")  # a later report
        assert book.record(back) is False  # back to what is committed: nothing pending
        assert book.pending == frozenset()


def test_going_offline_is_meaningful_and_said_in_the_message() -> None:
    book = StatusBook()
    book.record(report("edge-03", revision=REV1))
    book.mark_committed(book.changes())  # type: ignore[arg-type]
    assert book.set_online("edge-03", False)
    change = book.changes()
    assert change is not None
    assert change.message.startswith("1 offline: edge-03")
    assert yaml.safe_load(change.files["summary.yaml"])["offline"] == ["edge-03"]
    book.mark_committed(change)
    assert book.set_online("edge-03", True)
    assert "1 back online: edge-03" in book.changes().message  # type: ignore[union-attr]


def test_online_flag_before_any_report_waits_for_the_report() -> None:
    book = StatusBook()
    assert not book.set_online("edge-09", False)
    assert book.changes() is None
    book.record(report("edge-09"))
    assert yaml.safe_load(book.changes().files["nodes/edge-09.yaml"])["online"] is False  # type: ignore[union-attr]


def test_commit_message_says_what_changed() -> None:
    book = StatusBook()
    for n in ("edge-01", "edge-02", "edge-03"):
        book.record(report(n, revision=REV1))
    book.record(report("edge-07", revision=REV1, state="Failed", apps={"web": "Failed"}))
    change = book.changes()
    assert change is not None
    subject, _, body = change.message.partition("\n\n")
    assert subject == "3 synced to 1111111, 1 failed: edge-07 web"
    assert "edge-07: Failed at 1111111 - web: web: ImagePullBackOff" in body


def test_message_names_the_previous_state() -> None:
    book = StatusBook()
    book.record(report("edge-01", revision=REV1, state="Progressing", apps={"web": "Progressing"}))
    book.mark_committed(book.changes())  # type: ignore[arg-type]
    book.record(report("edge-01", revision=REV1))
    assert "edge-01: Synced at 1111111 (was Progressing)" in book.changes().message  # type: ignore[union-attr]


def test_summary_counts_per_app_and_per_revision() -> None:
    book = StatusBook()
    book.record(report("a", revision=REV1, apps={"web": "Ready", "db": "Ready"}))
    book.record(report("b", revision=REV1, apps={"web": "Failed"}, state="Failed"))
    book.record(report("c", revision=REV2, apps={"web": "Progressing"}, state="Progressing"))
    summary = book.summary()
    assert summary["nodes"] == 3
    assert summary["states"] == {"Synced": 1, "Progressing": 1, "Degraded": 0, "Failed": 1}
    assert summary["apps"]["web"] == {
        "Ready": 1,
        "Progressing": 1,
        "Failed": 1,
        "failed": ["b"],
        "progressing": ["c"],
    }
    assert summary["apps"]["db"] == {"Ready": 1, "Progressing": 0, "Failed": 0}
    assert summary["revisions"] == {
        REV1: {"nodes": 2, "names": ["a", "b"]},
        REV2: {"nodes": 1, "names": ["c"]},
    }


def test_what_is_committed_is_not_committed_again_after_a_restart() -> None:
    first = StatusBook()
    first.record(report("edge-01", revision=REV1))
    first.record(report("edge-02", revision=REV1))
    change = first.changes()
    assert change is not None
    committed = {n: yaml.safe_load(change.files[f"nodes/{n}.yaml"]) for n in change.nodes}

    restarted = StatusBook()
    restarted.load_committed(committed)
    # Retained reports come back, one with a newer timestamp only, one really changed.
    assert not restarted.record(report("edge-01", revision=REV1, time="2026-11-25T01:00:00Z"))
    assert restarted.record(report("edge-02", revision=REV2))
    assert restarted.pending == frozenset({"edge-02"})
    # The summary still counts the node that has not re-reported.
    assert restarted.summary()["nodes"] == 2


def test_reports_arriving_before_the_branch_is_read_are_compared_with_it() -> None:
    entry = node_entry(report("edge-01", revision=REV1), None)
    book = StatusBook()
    book.record(report("edge-01", revision=REV1, time="2026-11-25T02:00:00Z"))
    assert book.pending == frozenset({"edge-01"})
    book.load_committed({"edge-01": entry})
    assert book.pending == frozenset()


def test_a_change_arriving_during_a_commit_stays_pending() -> None:
    book = StatusBook()
    book.record(report("edge-01", revision=REV1))
    change = book.changes()
    book.record(report("edge-01", revision=REV2))
    book.mark_committed(change)  # type: ignore[arg-type]
    assert book.pending == frozenset({"edge-01"})


def test_meaningful_ignores_heartbeat_fields_only() -> None:
    entry = node_entry(report("x", revision=REV1), True)
    assert set(entry) - set(meaningful(entry)) == {"nodeInfo", "lastReport"}


def test_an_older_copy_of_a_recorded_report_is_ignored() -> None:
    # A broker restored from an older save hands out the report the node sent before.
    book = StatusBook()
    book.record(report("n", revision=REV2, generation=2, time="2026-11-25T00:10:00Z"))
    book.mark_committed(book.changes())  # type: ignore[arg-type]
    stale = report("n", revision=REV1, generation=1, time="2026-11-25T00:05:00Z")
    assert book.record(stale) is False
    assert book.pending == frozenset()
    assert book.entry("n")["observed"]["revision"] == REV2  # type: ignore[index]
    # Found by the broker-killed fault test: the copy the node sent in the same second
    # as the recorded one (times are whole seconds) is just as stale.
    same_second = report("n", revision=REV1, generation=1, time="2026-11-25T00:10:00Z")
    assert book.record(same_second) is False
    assert book.entry("n")["observed"]["revision"] == REV2  # type: ignore[index]
    # A node whose store was wiped starts again from nothing, with a later time: recorded.
    fresh = report("n", revision="", generation=None, time="2026-11-25T00:20:00Z")  # type: ignore[arg-type]
    assert book.record(fresh)


def test_settled_on_counts_the_nodes_settled_on_each_revision() -> None:
    book = StatusBook()
    rev1, rev2 = "1" * 40, "2" * 40
    book.record(report("a", revision=rev1))
    book.record(report("b", revision=rev1, state="Failed", apps={"web": "Failed"}))
    book.record(report("c", revision=rev2, state="Progressing"))
    assert (book.settled_on(rev1), book.settled_on(rev2)) == (2, 0)
    book.record(report("c", revision=rev2))
    book.record(report("a", revision=rev2))
    assert (book.settled_on(rev1), book.settled_on(rev2)) == (1, 2)
    book.forget(["b"])
    assert book.settled_on(rev1) == 0
    book.set_online("c", False)
    assert book.settled_on(rev2) == 2  # offline, still observing it
