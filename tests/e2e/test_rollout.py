"""A pushed commit reaches the nodes it selects, and their reports come back as commits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import (
    ROOT,
    WEB_TEMPLATE,
    Fleet,
    Processes,
    controller_args,
    edge_args,
    git,
)
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until


def synced_at(fleet: Fleet, node: str, revision: str) -> bool:
    status = fleet.node_status(node)
    return bool(
        status and status["state"] == "Synced" and status["observed"]["revision"] == revision
    )


def test_push_applies_on_selected_nodes_reports_and_commits_status(
    mosquitto: Mosquitto, fleet: Fleet, shoal: Processes, sims: dict, tmp_path: Path
) -> None:
    first = git(fleet.work, "rev-parse", "HEAD")
    shoal.start("controller", *controller_args(fleet, mosquitto.url, tmp_path / "ctl"))
    for node in ("paris-01", "lyon-01"):  # paris-02 has no agent running
        _sim, kubeconfig = sims[node]
        shoal.start(node, *edge_args(node, mosquitto.url, kubeconfig, tmp_path / node))
    wait_until(lambda: synced_at(fleet, "paris-01", first), 40, message="first rollout")
    wait_until(lambda: synced_at(fleet, "lyon-01", first), 20, message="first rollout")

    # Someone else pushes to the status branch: the controller's next push must keep it.
    person = tmp_path / "person"
    git(tmp_path, "clone", "-q", "-b", "shoal-status", str(fleet.remote), str(person))
    (person / "README.md").write_text("The fleet's status, written by shoal.\n")
    git(person, "add", "README.md")
    git(person, "-c", "user.name=p", "-c", "user.email=p@p", "commit", "-q", "-m", "readme")
    git(person, "push", "-q", "origin", "shoal-status")

    fleet.add_app("web", "site=paris", WEB_TEMPLATE)
    second = fleet.push("web on the Paris nodes")
    wait_until(lambda: synced_at(fleet, "paris-01", second), 30, message="web rollout")

    paris, lyon = sims["paris-01"][0], sims["lyon-01"][0]
    deployment = paris.get("apps/v1", "Deployment", "web", "web")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert lyon.get("apps/v1", "Deployment", "web", "web") is None
    assert any(f"synced to {second[:7]}" in s for s in fleet.status_log()), fleet.status_log()
    assert fleet.node_status("paris-01")["apps"]["web"]["state"] == "Ready"  # type: ignore[index]
    # Lyon was not touched by the commit, so it was not re-published: still the first revision.
    assert fleet.node_status("lyon-01")["observed"]["revision"] == first  # type: ignore[index]
    files = git(fleet.remote, "ls-tree", "-r", "--name-only", "shoal-status").split()
    assert "README.md" in files

    # `shoal status` from a fresh clone, through the CLI.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(fleet.remote), str(clone))
    done = subprocess.run(
        [sys.executable, "-m", "shoal", "status", str(clone), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    nodes = {n["node"]: n for n in json.loads(done.stdout)["nodes"]}
    assert nodes["paris-01"]["observed"]["revision"] == second
    assert nodes["paris-01"]["behind"] == 0
    assert nodes["lyon-01"]["behind"] == 0  # the head renders nothing new for Lyon
    assert nodes["paris-02"]["state"] == "NoReport"
