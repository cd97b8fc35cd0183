"""`shoal rollout status` from any clone, the actions' commits, and bad policies named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller.fleet.loading import load_usable
from tests.rollout.conftest import GIT_ENV_FOR_CLI, ROOT
from tests.support.controller import FleetRepo, git

ROLLOUTS = {
    "web": {
        "revision": "9f1c2ab" + "0" * 33,
        "from": "26f825f" + "0" * 33,
        "state": "Baking",
        "wave": 2,
        "waves": 4,
        "counts": {"wave": 50, "updated": 48, "ready": 47, "failed": 1, "offline": 2},
        "decision": "web 1.5: wave 2/4 (50 nodes) healthy, baking 5m",
        "since": "2026-12-01T22:30:00Z",
    }
}


def shoal(*args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "shoal", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **GIT_ENV_FOR_CLI},
    )


@pytest.fixture
def repo(tmp_path: Path) -> FleetRepo:
    repo = FleetRepo.create(tmp_path, {"gw-1": {"site": "paris"}})
    # The status branch as the controller writes it (controller.yaml at its top).
    git(repo.work, "checkout", "-q", "--orphan", "shoal-status")
    git(repo.work, "rm", "-rq", "--cached", ".")
    (repo.work / "controller.yaml").write_text(yaml.safe_dump({"rollouts": ROLLOUTS}))
    git(repo.work, "add", "controller.yaml")
    git(repo.work, "commit", "-qm", "status")
    git(repo.work, "push", "-q", "origin", "shoal-status")
    git(repo.work, "checkout", "-qf", "main")
    return repo


def test_status_reads_the_status_branch_from_a_clone(repo: FleetRepo, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo.remote), str(clone))
    done = shoal("rollout", "status", "--repo", str(clone))
    assert done.returncode == 0, done.stderr
    assert "web" in done.stdout and "Baking" in done.stdout and "wave 2/4" in done.stdout
    assert "48/50 updated, 47 ready, 1 failed, 2 offline" in done.stdout
    assert "web 1.5: wave 2/4 (50 nodes) healthy, baking 5m" in done.stdout
    done = shoal("rollout", "status", "web", "--repo", str(clone), "--format", "json")
    assert json.loads(done.stdout) == {"rollouts": ROLLOUTS}
    done = shoal("rollout", "status", "wbe", "--repo", str(clone))
    assert done.returncode == 1 and "no rollout of app 'wbe'" in done.stderr


def test_actions_commit_and_push_a_control_file_naming_the_rollout(repo: FleetRepo) -> None:
    done = shoal("rollout", "promote", "web", "--repo", str(repo.work))
    assert done.returncode == 0, done.stderr
    assert "committed" in done.stdout and "pushed" in done.stdout
    control = yaml.safe_load(git(repo.remote, "show", "main:rollouts/web.yaml"))
    assert control["promote"]["revision"] == ROLLOUTS["web"]["revision"]
    assert control["promote"]["wave"] == 2
    subject = git(repo.remote, "log", "-1", "--format=%s", "main")
    assert subject == "rollout: promote web (9f1c2ab, wave 2)"
    done = shoal("rollout", "pause", "wbe", "--repo", str(repo.work))
    assert done.returncode == 1 and "did you mean: web" in done.stderr


def test_a_bad_rollout_policy_names_its_file(tmp_path: Path) -> None:
    repo = FleetRepo.create(tmp_path, {"gw-1": {"site": "paris"}})
    app = yaml.safe_load((repo.work / "apps/web/app.yaml").read_text())
    app["rollout"] = {"waves": ["site in (a"], "onFailure": "explode"}
    repo.write_yaml("apps/web/app.yaml", app)
    problems = [str(p) for p in load_usable(repo.work).problems]
    assert any("apps/web/app.yaml" in p and "onFailure" in p for p in problems), problems
    app["rollout"] = {"waves": ["site in (a"]}
    repo.write_yaml("apps/web/app.yaml", app)
    problems = [str(p) for p in load_usable(repo.work).problems]
    assert any("apps/web/app.yaml" in p and "bad selector" in p for p in problems), problems
