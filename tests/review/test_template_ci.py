"""The template's CI workflow and pre-commit hook run commands that work: each command
line is taken from the file and run against a fleet made by `shoal init`."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from controller.commands import init
from tests.review.conftest import FleetRepo, Shoal, git


def shoal_lines(script: str) -> list[str]:
    """The `shoal ...` commands of a shell script, without redirections and `|| true`."""
    commands = []
    for line in script.splitlines():
        line = line.strip()
        if line.startswith("shoal "):
            commands.append(line.split(">")[0].split("||")[0].strip())
    return commands


def workflow() -> dict:
    path = init.template_dir() / ".github" / "workflows" / "shoal.yml"
    return yaml.safe_load(path.read_text())


def test_the_workflow_runs_on_pull_requests_and_may_comment() -> None:
    flow = workflow()
    assert "pull_request" in flow[True]  # YAML 1.1 reads the key `on` as True
    assert flow["permissions"]["pull-requests"] == "write"
    steps = flow["jobs"]["review"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # the base branch must be there to diff
    assert any("createComment" in s.get("with", {}).get("script", "") for s in steps)


def test_the_workflows_commands_work_on_a_pull_request(
    fleet: FleetRepo, shoal: Shoal, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(fleet.path, "update-ref", "refs/remotes/origin/main", "main")
    git(fleet.path, "checkout", "--quiet", "-b", "faster-sensors")
    group = fleet.read("groups/model-jetson-orin.yaml")
    group["vars"]["sensor_poll_seconds"] = 10
    fleet.write("groups/model-jetson-orin.yaml", group)
    fleet.commit("Poll Jetson sensors every 10 s")
    monkeypatch.chdir(fleet.path)

    scripts = "\n".join(s.get("run", "") for s in workflow()["jobs"]["review"]["steps"])
    commands = shoal_lines(scripts.replace("${{ github.base_ref }}", "main"))
    assert [c.split()[1] for c in commands] == ["validate", "diff"]

    validate = shoal(*shlex.split(commands[0])[1:])
    assert validate.code == 0, validate.err
    diff = shoal(*shlex.split(commands[1])[1:])
    assert diff.code == 0, diff.err
    assert diff.out.startswith("### shoal diff: ")
    for node in fleet.nodes_where(model="jetson-orin", site="paris"):
        assert f"`{node}`" in diff.out


def test_the_pre_commit_hook_validates_the_fleet(
    fleet: FleetRepo, shoal: Shoal, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = yaml.safe_load((fleet.path / ".pre-commit-config.yaml").read_text())
    (repo,) = config["repos"]
    (hook,) = repo["hooks"]
    assert repo["repo"] == "local" and hook["pass_filenames"] is False
    monkeypatch.chdir(fleet.path)

    assert shoal(*shlex.split(hook["entry"])[1:]).code == 0
    (fleet.path / "nodes" / "paris-gw-01.yaml").write_text("name: paris-gw-01\ntags: {site: 7}\n")
    failed = shoal(*shlex.split(hook["entry"])[1:])
    assert failed.code == 1
    assert "nodes/paris-gw-01.yaml" in failed.out + failed.err


def test_the_fleet_readme_describes_what_the_template_contains() -> None:
    root: Path = init.template_dir()
    readme = (root / "README.md").read_text()
    for group in (root / "groups").glob("*.yaml"):
        assert (
            f"groups/{group.name}" in readme or yaml.safe_load(group.read_text())["name"] in readme
        )
    for app in (root / "apps").iterdir():
        assert f"`{app.name}`" in readme
    assert "shoal-status" in readme and "shoal diff main" in readme
