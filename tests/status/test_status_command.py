"""`shoal status`: reads the status branch of a fleet clone and shows who is where."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from controller.fleet.loading import load_fleet
from controller.render.rendering import render_fleet
from controller.status.book import StatusBook
from controller.status.branch import StatusBranch
from shadow import AppStatus, ReportedDocument, node_digest
from shoal.cli import main
from tests.support.reports import report


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """The template fleet, with a status branch written the way the controller writes it."""
    repo = tmp_path / "fleet"
    assert main(["init", str(repo)]) == 0
    first = git(repo, "rev-parse", "HEAD")
    digests = {n: node_digest(a) for n, a in render_fleet(load_fleet(repo)).apps.items()}
    # A second commit that changes only the Paris gateways' web app.
    site = repo / "nodes" / "paris-gw-01.yaml"
    site.write_text(site.read_text().replace("web_replicas: 2", "web_replicas: 3"))
    git(repo, "commit", "-qam", "three replicas on paris-gw-01")
    head = git(repo, "rev-parse", "HEAD")
    now = {n: node_digest(a) for n, a in render_fleet(load_fleet(repo)).apps.items()}
    assert now["paris-gw-01"] != digests["paris-gw-01"]

    book = StatusBook()
    book.record(report("paris-gw-01", revision=first, digest=digests["paris-gw-01"]))
    book.record(
        report(
            "paris-gw-02",
            revision=head,
            digest=now["paris-gw-02"],
            state="Failed",
            apps={"web": "Failed"},
        )
    )
    book.record(report("lyon-gw-01", revision=first, digest=digests["lyon-gw-01"]))
    book.set_online("lyon-gw-01", False)
    book.record(
        report(
            "lyon-ai-01",
            revision=first,
            digest=digests["lyon-ai-01"],
            apps={"inference": "Ready", "sensor-collector": "Ready"},
        )
    )
    branch = StatusBranch(str(repo), tmp_path / "writer", "shoal-status")
    branch.open()
    change = book.changes()
    assert change is not None
    branch.commit(change.files, change.message)
    branch.push()
    return repo


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["status", *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_table_shows_state_lag_offline_messages_and_app_counts(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = status(capsys, str(fleet))
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:1].isalnum()}
    # paris-gw-01 observes the first commit, but the head renders something new for it.
    assert "(1 behind)" in lines["paris-gw-01"]
    # lyon-gw-01 is on the first commit too, but the head changes nothing for it: not behind.
    assert "behind" not in lines["lyon-gw-01"]
    assert "OFFLINE" in lines["lyon-gw-01"]
    assert "Failed" in lines["paris-gw-02"] and "web:Failed" in lines["paris-gw-02"]
    assert "    web: web: ImagePullBackOff" in out
    assert "    web: Deployment web/web not ready: 0/1 replicas ready" in out
    # In the fleet but never reported.
    assert "NoReport" in lines["paris-ai-01"]
    assert "app web: 2 Ready, 0 Progressing, 1 Failed" in out
    assert "; 1 behind " in out and "; 1 offline" in out


def test_exit_code_says_whether_every_node_shown_has_converged(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert status(capsys, str(fleet), "--exit-code")[0] == 1  # a Failed, a behind, an offline
    assert status(capsys, str(fleet), "--exit-code", "--app", "inference")[0] == 0
    assert status(capsys, str(fleet), "--app", "web")[0] == 0  # without --exit-code: 0


def test_json_filtered_by_app(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = status(capsys, str(fleet), "--format", "json", "--app", "inference")
    assert code == 0, out
    data = json.loads(out)
    assert [n["node"] for n in data["nodes"]] == ["lyon-ai-01"]
    assert data["apps"] == {"inference": {"Ready": 1, "Progressing": 0, "Failed": 0}}
    assert data["fleetHead"] == git(fleet, "rev-parse", "HEAD")


def test_selector_filters_by_the_tags_at_head(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = status(
        capsys, str(fleet), "--selector", "site=paris,role=gateway", "--format", "json"
    )
    assert code == 0, out
    assert [n["node"] for n in json.loads(out)["nodes"]] == ["paris-gw-01", "paris-gw-02"]
    code, out = status(capsys, str(fleet), "--selector", "site in (paris")
    assert code == 1
    assert "--selector" in out and "Traceback" not in out


def test_reads_the_remote_tracking_branch_of_a_clone(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(fleet), str(clone))
    code, out = status(capsys, str(clone), "--format", "json")
    assert code == 0, out
    assert json.loads(out)["statusBranch"]["ref"] == "origin/shoal-status"
    # The controller commits more; --fetch brings it in.
    before = json.loads(out)["statusBranch"]["commit"]
    branch = StatusBranch(str(fleet), tmp_path / "writer", "shoal-status")
    branch.open()
    book = StatusBook()
    book.record(report("lyon-ai-02"))
    change = book.changes()
    assert change is not None
    branch.commit({"nodes/lyon-ai-02.yaml": change.files["nodes/lyon-ai-02.yaml"]}, "1 more")
    branch.push()
    code, out = status(capsys, str(clone), "--format", "json")
    assert json.loads(out)["statusBranch"]["commit"] == before
    code, out = status(capsys, str(clone), "--format", "json", "--fetch")
    assert code == 0, out
    assert json.loads(out)["statusBranch"]["commit"] != before
    assert "lyon-ai-02" in {n["node"] for n in json.loads(out)["nodes"] if n["state"] == "Synced"}


def test_no_status_branch_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "bare"
    assert main(["init", str(repo)]) == 0
    capsys.readouterr()
    code, out = status(capsys, str(repo))
    assert code == 2
    assert "no status branch 'shoal-status'" in out and "git fetch origin shoal-status" in out
    code, out = status(capsys, str(tmp_path / "nowhere"))
    assert code == 2 and "Traceback" not in out


def add_reports(fleet: Path, work: Path, *reports: ReportedDocument) -> None:
    """Commit more node files to the status branch, as the writer would."""
    book = StatusBook()
    for one in reports:
        book.record(one)
    change = book.changes()
    assert change is not None
    branch = StatusBranch(str(fleet), work, "shoal-status")
    branch.open()
    nodes = {p: t for p, t in change.files.items() if p.startswith("nodes/")}
    branch.commit(nodes, "more reports")
    branch.push()


def test_a_node_not_in_the_fleet_is_flagged_not_counted_as_synced(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Anyone allowed to publish on shoal/nodes/ghost-node/reported gets a node file.
    add_reports(fleet, tmp_path / "forger", report("ghost-node", apps={"web": "Ready"}))
    code, out = status(capsys, str(fleet))
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:1].isalnum()}
    assert "Unknown node" in lines["ghost-node"] and "Synced" not in lines["ghost-node"]
    assert "    not in the fleet at HEAD (reported Synced)" in out
    # Not counted with the fleet's nodes or its apps: the fixture's web counts are unchanged.
    assert "app web: 2 Ready, 0 Progressing, 1 Failed" in out
    assert "1 not in the fleet: ghost-node" in out
    summary = next(line for line in out.splitlines() if " nodes: " in line)
    assert "Synced" in summary and "Unknown" in summary
    synced_rows = [n for n, line in lines.items() if line.split()[1:2] == ["Synced"]]
    assert f"{len(synced_rows)} Synced" in summary
    code, out = status(capsys, str(fleet), "--format", "json")
    ghost = next(n for n in json.loads(out)["nodes"] if n["node"] == "ghost-node")
    assert ghost["state"] == "Unknown node" and ghost["inFleet"] is False
    assert ghost["reportedState"] == "Synced"
    assert json.loads(out)["apps"]["web"] == {"Ready": 2, "Progressing": 0, "Failed": 1}
    assert status(capsys, str(fleet), "--exit-code", "--app", "inference")[0] == 0


def test_an_unknown_app_is_an_error_with_suggestions(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = status(capsys, str(fleet), "--app", "nosuch")
    assert code == 1
    assert "no app named 'nosuch'" in out and "known: inference, sensor-collector, web" in out
    code, out = status(capsys, str(fleet), "--app", "wbe")
    assert code == 1 and "did you mean: web?" in out and "Traceback" not in out
    # An app that is in the fleet but that no node reports yet is not an error.
    assert status(capsys, str(fleet), "--app", "sensor-collector")[0] == 0


def test_one_message_shared_by_every_app_is_shown_once(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    down = "cannot reach the Kubernetes API at https://10.0.0.1:6443: connection refused"
    failed = report("paris-ai-01", state="Failed", message=down)
    apps = {
        name: AppStatus(state="Failed", message=down)
        for name in ("base", "inference", "sensor-collector", "web", "gadget")
    }
    add_reports(fleet, tmp_path / "writer2", replace(failed, apps=apps))
    code, out = status(capsys, str(fleet))
    assert code == 0, out
    assert out.count(down) == 1, out
    assert f"    base, gadget, inference, sensor-collector, web: {down}" in out
