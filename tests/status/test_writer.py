"""StatusWriter against a real Mosquitto and a bare git remote."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from controller.status import StatusWriter
from shadow import ReportedDocument, Topics
from tests.status.conftest import git
from tests.support.mosquitto import Mosquitto
from tests.support.reports import report
from tests.support.waiting import wait_until
from transport import BrokerOptions, make_client

REV1 = "1" * 40
REV2 = "2" * 40
TOPICS = Topics("shoal")
BRANCH = "shoal-status"


def send(mosquitto: Mosquitto, *docs: ReportedDocument, node: str | None = None) -> None:
    """Publish reports retained, as edges do, over one connection (acknowledged)."""
    options = BrokerOptions.from_url(mosquitto.url)
    client = make_client(options, "test-edges")
    client.connect(options.host, options.port)
    client.loop_start()
    try:
        infos = [
            client.publish(TOPICS.reported(node or d.node), d.to_json(), qos=1, retain=True)
            for d in docs
        ]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def subjects(remote: Path) -> list[str]:
    try:
        return git(remote, "log", "--format=%s", BRANCH).splitlines()
    except subprocess.CalledProcessError:
        return []


def node_file(remote: Path, node: str) -> dict:  # type: ignore[type-arg]
    data: dict = yaml.safe_load(git(remote, "show", f"{BRANCH}:nodes/{node}.yaml"))  # type: ignore[type-arg]
    return data


def test_reports_become_a_commit_on_a_new_orphan_status_branch(
    mosquitto: Mosquitto, remote: Path, make_writer: Callable[..., StatusWriter]
) -> None:
    make_writer(interval=2.0)
    send(
        mosquitto,
        report("edge-01", revision=REV1),
        report("edge-02", revision=REV1, state="Failed", apps={"web": "Failed"}),
    )
    log = wait_until(lambda: [s for s in subjects(remote) if "edge-02" in s], 15)
    assert log == ["1 synced to 1111111, 1 failed: edge-02 web"]
    assert len(subjects(remote)) == 1  # orphan: no fleet history underneath
    assert node_file(remote, "edge-02")["apps"]["web"]["state"] == "Failed"
    summary = yaml.safe_load(git(remote, "show", f"{BRANCH}:summary.yaml"))
    assert summary["apps"]["web"]["Failed"] == 1
    assert summary["revisions"][REV1]["nodes"] == 2


def test_a_report_for_another_node_is_rejected(
    mosquitto: Mosquitto, remote: Path, make_writer: Callable[..., StatusWriter]
) -> None:
    writer = make_writer()
    send(mosquitto, report("intruder", revision=REV1), node="edge-01")
    send(mosquitto, report("edge-02", revision=REV1))
    wait_until(lambda: subjects(remote), 15)
    wait_until(lambda: writer.rejected == 1, 5)
    files = git(remote, "ls-tree", "--name-only", f"{BRANCH}:nodes").split()
    assert files == ["edge-02.yaml"]


def test_a_burst_is_one_commit_and_heartbeats_make_none(
    mosquitto: Mosquitto, remote: Path, make_writer: Callable[..., StatusWriter]
) -> None:
    writer = make_writer(interval=1.0)
    send(mosquitto, *(report(f"edge-{i:02}", revision=REV1) for i in range(30)))
    wait_until(lambda: subjects(remote), 15)
    wait_until(lambda: writer.settled, 15)
    assert subjects(remote) == ["30 synced to 1111111"]
    later = "2026-11-25T09:00:00Z"
    send(mosquitto, *(report(f"edge-{i:02}", revision=REV1, time=later) for i in range(30)))
    wait_until(lambda: writer.book.entry("edge-29")["lastReport"].startswith("2026-11-25T09"), 10)  # type: ignore[index]
    assert writer.flush() is None
    assert len(subjects(remote)) == 1
    send(mosquitto, report("edge-05", revision=REV2))
    wait_until(lambda: len(subjects(remote)) == 2, 15)
    assert subjects(remote)[0] == "1 synced to 2222222"
    # The heartbeat was kept: the meaningful commit carries the newest timestamp of edge-05 only.
    changed = git(remote, "diff", "--name-only", f"{BRANCH}~1", BRANCH).split()
    assert changed == ["nodes/edge-05.yaml", "summary.yaml"]


def test_someone_else_pushing_to_the_status_branch_loses_nothing(
    mosquitto: Mosquitto, remote: Path, tmp_path: Path, make_writer: Callable[..., StatusWriter]
) -> None:
    writer = make_writer(interval=0.2)
    send(mosquitto, report("edge-01", revision=REV1))
    wait_until(lambda: subjects(remote), 15)
    # A person (or another shard) pushes to the status branch.
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", BRANCH, str(remote), str(other))
    (other / "README.md").write_text("status of the acme fleet\n")
    (other / "nodes" / "shard-b-01.yaml").write_text("node: shard-b-01\nstate: Synced\n")
    git(other, "add", ".")
    git(other, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "-m", "by hand")
    git(other, "push", "-q", "origin", BRANCH)
    send(mosquitto, report("edge-02", revision=REV2))
    wait_until(lambda: "edge-02.yaml" in git(remote, "ls-tree", "-r", "--name-only", BRANCH), 15)
    files = git(remote, "ls-tree", "-r", "--name-only", BRANCH).split()
    assert {"README.md", "nodes/shard-b-01.yaml", "nodes/edge-01.yaml"} <= set(files)
    assert "by hand" in subjects(remote)
    assert node_file(remote, "edge-02")["observed"]["revision"] == REV2
    assert writer.last_commit == git(remote, "rev-parse", BRANCH).strip()


def test_an_unreachable_remote_keeps_commits_until_it_comes_back(
    mosquitto: Mosquitto, remote: Path, tmp_path: Path, make_writer: Callable[..., StatusWriter]
) -> None:
    writer = make_writer(interval=0.2)
    send(mosquitto, report("edge-01", revision=REV1))
    wait_until(lambda: subjects(remote), 15)
    away = tmp_path / "away.git"
    remote.rename(away)
    send(mosquitto, report("edge-01", revision=REV2))
    wait_until(lambda: not writer.book.pending and not writer.settled, 15)
    away.rename(remote)
    wait_until(lambda: len(subjects(remote)) == 2, 20)
    assert node_file(remote, "edge-01")["observed"]["revision"] == REV2


def test_a_restart_loses_no_report_and_recommits_nothing(
    mosquitto: Mosquitto, remote: Path, make_writer: Callable[..., StatusWriter]
) -> None:
    first = make_writer(interval=0.2)
    send(mosquitto, *(report(n, revision=REV1) for n in ("edge-01", "edge-02", "edge-03")))
    wait_until(lambda: subjects(remote), 15)
    wait_until(lambda: first.settled, 15)
    first.stop()
    # While no writer runs, one edge moves on and another only heartbeats.
    send(
        mosquitto,
        report("edge-02", revision=REV2),
        report("edge-03", revision=REV1, time="2026-11-25T10:00:00Z"),
    )
    second = make_writer(interval=0.2)
    wait_until(lambda: len(subjects(remote)) == 2, 15)
    assert subjects(remote)[0] == "1 synced to 2222222"
    changed = git(remote, "diff", "--name-only", f"{BRANCH}~1", BRANCH).split()
    assert changed == ["nodes/edge-02.yaml", "summary.yaml"]
    second.stop()
    third = make_writer(interval=0.2, work="work-fresh")  # a fresh work dir: reads the remote
    wait_until(lambda: third.book.nodes == {"edge-01", "edge-02", "edge-03"}, 10)
    assert third.flush() is None
    assert len(subjects(remote)) == 2


def test_a_push_the_remote_refuses_is_reported_on_one_line_and_its_recovery_logged(
    mosquitto: Mosquitto,
    remote: Path,
    make_writer: Callable[..., StatusWriter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'status pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    caplog.set_level(logging.INFO, logger="controller.status")
    writer = make_writer(interval=0.2)
    send(mosquitto, report("edge-01", revision=REV1))
    wait_until(lambda: writer.last_error is not None, 15)
    error = writer.last_error
    assert error is not None and "status pushes are frozen" in error and "\n" not in error
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("\n" not in w for w in warnings)
    hook.unlink()
    wait_until(lambda: writer.last_error is None, 20)
    assert subjects(remote)
    recovered = [r.getMessage() for r in caplog.records if "pushed" in r.getMessage()]
    assert recovered and "after" in recovered[-1]


def test_the_report_completing_a_rollout_is_committed_without_waiting_out_the_interval(
    mosquitto: Mosquitto, remote: Path, make_writer: Callable[..., StatusWriter]
) -> None:
    fleet = frozenset({"edge-01", "edge-02", "edge-03"})
    make_writer(interval=3600.0, known_nodes=lambda: fleet)
    send(mosquitto, *(report(n, revision=REV1) for n in sorted(fleet)))
    wait_until(lambda: subjects(remote) == ["3 synced to 1111111"], 15)
    # Within the hour-long interval: two of three on the new revision wait for it...
    send(mosquitto, report("edge-01", revision=REV2), report("edge-02", revision=REV2))
    # ...and the third one's report, completing the rollout, is committed at once.
    send(mosquitto, report("edge-03", revision=REV2, state="Progressing"))
    send(mosquitto, report("edge-03", revision=REV2))
    wait_until(lambda: len(subjects(remote)) == 2, 20)
    summary = yaml.safe_load(git(remote, "show", f"{BRANCH}:summary.yaml"))
    assert summary["revisions"][REV2]["nodes"] == 3
    assert subjects(remote)[0] == "3 synced to 2222222"
