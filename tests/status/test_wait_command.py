"""`shoal wait --revision` and the rollout lines of `shoal status`, on a status branch in
a real fleet repository (written the way the controller writes it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.fleet.loading import load_fleet
from controller.render.rendering import render_fleet
from controller.status.book import StatusBook
from controller.status.branch import StatusBranch
from controller.status.controllerstate import CONTROLLER_FILE
from controller.status.yamltext import to_yaml
from shadow import ReportedDocument, node_digest
from shoal.cli import main
from tests.support.reports import report
from tests.support.waiting import wait_until


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class Fleet:
    """The template fleet with a status branch the test writes, commit by commit."""

    def __init__(self, tmp_path: Path) -> None:
        self.repo = tmp_path / "fleet"
        assert main(["init", str(self.repo)]) == 0
        self.head = git(self.repo, "rev-parse", "HEAD")
        rendered = render_fleet(load_fleet(self.repo)).apps
        self.digests = {node: node_digest(apps) for node, apps in rendered.items()}
        self.branch = StatusBranch(str(self.repo), tmp_path / "writer", "shoal-status")
        self.branch.open()
        self.book = StatusBook()

    def synced(self, *except_: str, **state: str) -> list[ReportedDocument]:
        """A report per node: Synced at the head unless `state` says otherwise."""
        reports = []
        for node, digest in sorted(self.digests.items()):
            if node in except_:
                continue
            mine = state.get(node.replace("-", "_"), "Synced")
            apps = {"web": "Ready" if mine == "Synced" else "Failed"}
            reports.append(report(node, mine, revision=self.head, apps=apps, digest=digest))
        return reports

    def write(self, reports: list[ReportedDocument], record: dict[str, Any] | None = None) -> None:
        for doc in reports:
            self.book.record(doc)
        change = self.book.changes()
        files: dict[str, str | None] = dict(change.files) if change else {}
        if record is not None:
            files[CONTROLLER_FILE] = to_yaml(record)
        self.branch.commit(files, "test status\n")
        if change:
            self.book.mark_committed(change)
        self.branch.push()


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path)


def run(capsys: pytest.CaptureFixture[str], fleet: Fleet, *args: str) -> tuple[int, str]:
    code = main(["wait", str(fleet.repo), "--no-fetch", "--interval", "0.1", *args])
    out, err = capsys.readouterr()
    return code, out + err


def rollout(revision: str, state: str) -> dict[str, Any]:
    return {
        "revision": revision,
        "from": "0" * 40,
        "state": state,
        "wave": 1,
        "waves": 2,
        "counts": {"wave": 2, "updated": 2, "ready": 2, "failed": 0, "offline": 0},
        "decision": f"web 1.1: wave 1/2 {state.lower()}",
        "since": "2026-12-01T22:30:00Z",
    }


def controller_record(fleet: Fleet, **rollouts: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "seen": {"revision": fleet.head, "time": "2026-12-01T22:00:00Z"},
        "served": {"revision": fleet.head, "since": "2026-12-01T22:00:00Z"},
    }
    if rollouts:
        record["rollouts"] = rollouts
    return record


def test_exit_0_when_every_node_is_synced_at_the_revision(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.write(fleet.synced(), controller_record(fleet))
    code = main(
        ["wait", str(fleet.repo), "--no-fetch", "--revision", fleet.head[:8], "--format", "json"]
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    result = json.loads(out)
    assert result["result"] == "synced" and result["exitCode"] == 0
    assert result["synced"] == sorted(fleet.digests)
    assert f"{fleet.head[:7]}: {len(fleet.digests)}/{len(fleet.digests)} synced" in err
    assert main(["status", str(fleet.repo), "--exit-code"]) == 0

    # The controller rejects the next commit: `--exit-code` says so, though every node is fine.
    rejected = {
        "revision": "9" * 40,
        "problems": ["fleet.yaml:1: bad"],
        "time": "2026-12-01T23:00:00Z",
    }
    fleet.write([], {**controller_record(fleet), "rejected": rejected})
    capsys.readouterr()
    assert main(["status", str(fleet.repo), "--exit-code"]) == 1
    assert capsys.readouterr().out.startswith(
        f"HEAD 9999999 rejected: fleet.yaml:1: bad - nodes stay on {fleet.head[:7]}\n"
    )


def test_exit_1_naming_the_node_that_failed_at_the_revision(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.write(fleet.synced(paris_gw_02="Failed"))
    code, out = run(capsys, fleet, "--revision", "HEAD")
    assert code == 1
    assert (
        f"error: {fleet.head[:7]} failed on paris-gw-02: Failed: web: web: ImagePullBackOff" in out
    )


def test_exit_2_on_timeout_naming_who_it_waits_for(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.write(fleet.synced("lyon-ai-02"))
    code, out = run(capsys, fleet, "--revision", "main", "--timeout", "0.5")
    assert code == 2
    assert "timed out after 0.5s" in out and "waiting for lyon-ai-02 (no report)" in out


def test_a_rollout_of_the_revision_decides_and_shows_in_shoal_status(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.write(fleet.synced(), controller_record(fleet, web=rollout(fleet.head, "Baking")))
    code, out = run(capsys, fleet, "--revision", fleet.head, "--timeout", "0.5")
    assert code == 2 and "rollout web Baking" in out  # every node synced, rollout unfinished
    assert main(["status", str(fleet.repo)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        f"serving {fleet.head[:7]} (HEAD)",
        f"rollout web: Baking, wave 1/2, {fleet.head[:7]} (rest on 0000000) - web 1.1: wave 1/2 baking",
    ]

    fleet.write([], controller_record(fleet, web=rollout(fleet.head, "RolledBack")))
    code, out = run(capsys, fleet, "--revision", fleet.head)
    assert code == 1 and f"error: {fleet.head[:7]}: rollout web RolledBack" in out

    fleet.write([], controller_record(fleet, web=rollout(fleet.head, "Complete")))
    assert run(capsys, fleet, "--revision", fleet.head)[0] == 0


def test_an_unknown_revision_is_bad_input(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, fleet, "--revision", "no-such-ref")
    assert code == 1 and "--revision 'no-such-ref': no such commit or ref" in out


def test_status_watch_shows_each_change_until_ctrl_c(fleet: Fleet) -> None:
    fleet.write(fleet.synced("lyon-ai-02"), controller_record(fleet))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "NO_COLOR": "1"}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "shoal", "status", str(fleet.repo), "--watch", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    seen: list[str] = []

    def shows(text: str) -> bool:
        assert watcher.stdout is not None
        while True:
            line = watcher.stdout.readline()
            if not line:
                return False
            seen.append(line)
            if text in line:
                return True

    try:
        assert wait_until(lambda: shows("NoReport"), 60), "".join(seen)
        fleet.write([report("lyon-ai-02", revision=fleet.head, digest=fleet.digests["lyon-ai-02"])])
        assert wait_until(lambda: shows(f"nodes: {len(fleet.digests)} Synced"), 60), "".join(seen)
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(30) == 0
    assert "Traceback" not in "".join(seen)


def test_a_node_is_at_the_revision_by_its_digest_or_a_later_commit() -> None:
    from controller.status.waiting import progress

    rev, later, old = "r" * 40, "l" * 40, "o" * 40
    entries = {
        "same-render": {"state": "Synced", "observed": {"revision": old, "digest": "d1"}},
        "later": {"state": "Synced", "observed": {"revision": later, "digest": "x"}},
        "held-back": {"state": "Synced", "observed": {"revision": rev, "digest": "old"}},
        "failed-before": {"state": "Failed", "observed": {"revision": old, "digest": "y"}},
    }
    nodes = {"same-render": "d1", "later": "d2", "held-back": "d3", "failed-before": "d4"}
    found = progress(rev, nodes, entries, None, lambda seen: seen in (rev, later))
    assert found.synced == ["later", "same-render"]
    assert found.pending == {
        "held-back": "at rrrrrrr with apps held back",
        "failed-before": "at ooooooo",
    }
    assert found.verdict == "waiting"  # a failure at an older revision is not REV's


def test_a_remote_without_a_status_branch_yet_is_waited_on(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(fleet.repo), str(clone))
    code = main(["wait", str(clone), "--revision", "HEAD", "--timeout", "0.3", "--interval", "0.1"])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "timed out after 0.3s" in err and "(no report)" in err
    code = main(["wait", str(clone), "--revision", "HEAD", "--remote", "nowhere"])
    assert code == 2  # a remote that is not there: at once
    assert "nowhere" in capsys.readouterr().err
