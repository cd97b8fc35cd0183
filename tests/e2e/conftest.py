"""End-to-end fixtures: real processes through the CLI, a real broker, real git, KubeSims.

`fleet` is a small fleet repository (bare remote + working clone) with three nodes;
`shoal` starts `sys.executable -m shoal ...` from the repository root with its output
in a log file (tests/support/processes.py), and stops every process it started; `sims`
gives each node its own KubeSim and kubeconfig.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shoal.kubesim import KubeSim
from tests.support.controller import FleetRepo
from tests.support.processes import ROOT as ROOT  # the e2e tests import it from here
from tests.support.processes import Processes

NODES = {"paris-01": "paris", "paris-02": "paris", "lyon-01": "lyon"}

BASE_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: base
data:
  node: {{ node.name | to_json }}
  motd: {{ motd | to_json }}
"""

WEB_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: {{ ("nginx:" ~ web_tag) | to_json }}
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class Fleet(FleetRepo):
    """A working clone (`work`) of a bare remote (`remote`) the controller follows: the
    controller tests' `FleetRepo`, plus apps from templates and the status branch."""

    def add_app(self, name: str, selector: str, template: str, **vars: str) -> None:
        app = {"name": name, "version": "1.0", "selector": selector, "namespace": name}
        if vars:
            app["vars"] = vars
        self.write_yaml(f"apps/{name}/app.yaml", app)
        self.write(f"apps/{name}/templates/{name}.yaml.j2", template)

    def push(self, message: str) -> str:
        return self.commit_and_push(message)

    def status_log(self) -> list[str]:
        try:
            return git(self.remote, "log", "--format=%s", "shoal-status").splitlines()
        except subprocess.CalledProcessError:
            return []

    def status_file(self, rel: str) -> dict | None:  # type: ignore[type-arg]
        try:
            data = yaml.safe_load(git(self.remote, "show", f"shoal-status:{rel}"))
        except subprocess.CalledProcessError:
            return None
        return data if isinstance(data, dict) else None

    def node_status(self, node: str) -> dict | None:  # type: ignore[type-arg]
        return self.status_file(f"nodes/{node}.yaml")


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    work, remote = tmp_path / "fleet", tmp_path / "fleet.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    git(work, "config", "user.name", "test")
    git(work, "config", "user.email", "test@localhost")
    git(work, "remote", "add", "origin", str(remote))
    fleet = Fleet(work, remote)
    fleet.write("fleet.yaml", "name: e2e\nvars:\n  motd: hello\n  web_tag: '1.27'\n")
    for node, site in NODES.items():
        fleet.write(f"nodes/{node}.yaml", f"name: {node}\ntags:\n  site: {site}\n")
    fleet.add_app("base", "", BASE_TEMPLATE)
    fleet.push("a fleet of three nodes")
    return fleet


@pytest.fixture
def shoal(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path / "logs")
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[dict[str, tuple[KubeSim, Path]]]:
    """One started KubeSim per node, with its kubeconfig path."""
    started: dict[str, tuple[KubeSim, Path]] = {}
    try:
        for node in NODES:
            sim = KubeSim(port=0, rollout_seconds=0.2).start()
            started[node] = (sim, sim.write_kubeconfig(tmp_path / "kube" / f"{node}.yaml"))
        yield started
    finally:
        for sim, _ in started.values():
            sim.stop()


def controller_args(fleet: Fleet, broker: str, work: Path, *extra: str) -> list[str]:
    return [
        "controller",
        *("--repo", str(fleet.remote), "--broker", broker, "--work-dir", str(work)),
        *("--interval", "1", "--status-interval", "0.5", *extra),
    ]


def edge_args(node: str, broker: str, kubeconfig: Path, state: Path) -> list[str]:
    return [
        "edge",
        *("--node", node, "--broker", broker, "--kubeconfig", str(kubeconfig)),
        *("--state-dir", str(state), "--reconcile-interval", "1", "--report-interval", "30"),
    ]
