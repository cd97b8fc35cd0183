"""`shoal diff` on the shapes repositories take (a fleet in a subfolder, the commit that
creates it, commits outside it, two-argument forms) and on what goes wrong (a broken
side, an unknown revision, no repository): clear messages, exit codes, no traceback."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from controller.commands import init
from tests.review.conftest import FleetRepo, Shoal, affected, git, run_shoal, set_group_var


def test_a_broken_head_is_reported_without_a_traceback(fleet: FleetRepo) -> None:
    node = fleet.path / "nodes" / "lyon-ai-01.yaml"
    node.write_text(node.read_text().replace("tags:", "tags: [oops"))
    fleet.commit("Break a node file")

    result = run_shoal("diff", fleet.path, "main~1", "HEAD")

    assert result.code == 1
    assert "Traceback" not in result.err
    assert "HEAD" in result.err and "does not load or render" in result.err
    assert "nodes/lyon-ai-01.yaml" in result.err
    assert re.search(r"nodes/lyon-ai-01\.yaml:\d+", result.err)  # with its line


def test_a_render_failure_names_node_and_app(fleet: FleetRepo, shoal: Shoal) -> None:
    group = fleet.read("groups/model-jetson-orin.yaml")
    del group["vars"]["sensor_poll_seconds"]
    fleet.write("groups/model-jetson-orin.yaml", group)
    app = fleet.read("apps/sensor-collector/app.yaml")
    del app["vars"]["sensor_poll_seconds"]
    fleet.write("apps/sensor-collector/app.yaml", app)

    result = shoal("diff", fleet.path, "main", "--format", "markdown")

    assert result.code == 1
    assert "sensor_poll_seconds" in result.err and "paris-ai-01" in result.err
    assert "sensor-collector" in result.err
    assert result.out.startswith("### shoal diff: cannot compare")


def test_unknown_revision_and_non_repository(
    fleet: FleetRepo, shoal: Shoal, tmp_path: Path
) -> None:
    missing = shoal("diff", fleet.path, "no-such-branch")
    assert missing.code == 2
    assert "unknown revision 'no-such-branch'" in missing.err

    plain = tmp_path / "plain"
    plain.mkdir()
    outside = shoal("diff", plain, "main", "HEAD")
    assert outside.code == 2
    assert "not inside a git repository" in outside.err


def test_a_fleet_in_a_subdirectory(tmp_path: Path, shoal: Shoal) -> None:
    monorepo = tmp_path / "infra"
    assert shoal("init", monorepo / "edge").code == 0
    shutil.move(monorepo / "edge" / ".git", monorepo / ".git")
    git(monorepo, "add", "--all")
    git(monorepo, "commit", "--quiet", "-m", "The fleet moves into edge/")
    fleet = FleetRepo(monorepo / "edge")
    set_group_var(fleet, "groups/site-lyon.yaml", "ntp_server", "ntp.example.org")
    fleet.commit("Lyon NTP")

    result = shoal("diff", fleet.path, "HEAD~1", "HEAD", "--format", "json")

    assert result.code == 0, result.err
    assert affected(result) == fleet.nodes_where(site="lyon")


def test_two_arguments_are_base_and_head_inside_the_repository(
    fleet: FleetRepo, shoal: Shoal, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_group_var(fleet, "groups/site-lyon.yaml", "timezone", "UTC")
    fleet.commit("Lyon on UTC")
    monkeypatch.chdir(fleet.path)

    result = shoal("diff", "main~1", "main", "--format", "json")

    assert result.code == 0, result.err
    assert json.loads(result.out)["head"]["revision"] == "main"
    assert affected(result) == fleet.nodes_where(site="lyon")


def test_the_change_that_creates_the_fleet_adds_every_node(tmp_path: Path, shoal: Shoal) -> None:
    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "Empty")
    shutil.copytree(init.template_dir(), repo / "edge")
    fleet = FleetRepo(repo / "edge")
    fleet.commit("Add the fleet")

    result = shoal("diff", fleet.path, "HEAD~1", "HEAD", "--format", "json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert set(report["summary"]["nodes"]["added"]) == fleet.all_nodes()
    assert report["summary"]["nodes"]["base"] == 0

    backwards = shoal("diff", fleet.path, "HEAD", "HEAD~1")
    assert backwards.code == 1
    assert "fleet.yaml: not found" in backwards.err


def test_commits_outside_the_fleet_change_nothing(tmp_path: Path, shoal: Shoal) -> None:
    monorepo = tmp_path / "infra"
    assert shoal("init", monorepo / "edge").code == 0
    shutil.move(monorepo / "edge" / ".git", monorepo / ".git")
    (monorepo / "terraform.tf").write_text("# not the fleet\n")
    git(monorepo, "add", "--all")
    git(monorepo, "commit", "--quiet", "-m", "The fleet moves into edge/, and some terraform")
    (monorepo / "terraform.tf").write_text("# still not the fleet\n")
    git(monorepo, "commit", "--quiet", "-am", "Terraform only")

    result = shoal("diff", monorepo / "edge", "HEAD~1", "HEAD", "--exit-code")

    assert result.code == 0, result.err
    assert "no changes: " in result.out
