"""The edge agent updates itself over the air, driven by one commit to the fleet repository.

Real parts throughout: three wheels of shoal built from this checkout with different
versions, the old one installed in a virtualenv outside the checkout, a real Mosquitto,
`shoal controller` following a bare git remote, and `shoal edge --self-update` (the
supervisor) on the API stand-in. A commit declares the new release; the node restarts on
it and reports it. A commit declaring a build that crashes at start is reverted on its
own, and so are a wrong sha256 and a version the wheelhouse does not have.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, Fleet, Processes, controller_args, edge_args
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until

OLD, NEW, BROKEN = "0.0.1", "0.0.2", "0.0.3"
SOURCES = (
    "pyproject.toml",
    "README.md",
    "shadow",
    "controller",
    "edge",
    "transport",
    "schemas",
    "shoal",
)
CRASH = 'raise SystemExit("error: this agent build crashes at start on purpose")\n'


def build_wheels(out: Path) -> dict[str, Path]:
    """shoal-<v>-py3-none-any.whl for OLD, NEW and BROKEN, built from this checkout."""
    jobs = {}
    for version in (OLD, NEW, BROKEN):
        src = out / f"src-{version}"
        src.mkdir()
        for name in SOURCES:
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(path, src / name)
        init = src / "shoal" / "__init__.py"
        init.write_text(
            init.read_text().replace('__version__ = "', f'__version__ = "{version}"  # was "')
        )
        if version == BROKEN:
            cli = src / "edge" / "cli.py"
            text = cli.read_text().replace(
                "def run(args: argparse.Namespace) -> int:\n",
                "def run(args: argparse.Namespace) -> int:\n    " + CRASH,
                1,
            )
            cli.write_text(text)
        jobs[version] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                str(src),
                "--no-deps",
                "-q",
                "-w",
                str(out / "wheels"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    for version, job in jobs.items():
        _, err = job.communicate(timeout=300)
        assert job.returncode == 0, f"building {version}: {err.decode()[-2000:]}"
    return {v: out / "wheels" / f"shoal-{v}-py3-none-any.whl" for v in jobs}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    found = build_wheels(tmp_path_factory.mktemp("agent-wheels"))
    assert all(path.is_file() for path in found.values()), found
    return found


def install_old(wheel: Path, prefix: Path) -> Path:
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(prefix)
    python = prefix / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    return python


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Node:
    """The supervised agent of one node, and what it reports."""

    def __init__(
        self, proc: subprocess.Popen[bytes], reports: Recorder, topic: str, log: Path
    ) -> None:
        self.proc, self.reports, self.topic, self.log = proc, reports, topic, log

    def report(self) -> dict[str, Any] | None:
        payload = self.reports.latest.get(self.topic)
        return json.loads(payload) if payload else None

    def wait(self, check: Any, timeout: float, what: str) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            report = self.report()
            return report if report is not None and check(report) else None

        try:
            return wait_until(ready, timeout, message=what)
        except TimeoutError as exc:
            raise AssertionError(
                f"{exc}; last report {self.report()}; log:\n{self.log.read_text()[-4000:]}"
            ) from exc


@pytest.fixture
def node(
    tmp_path: Path, fleet: Fleet, shoal: Processes, sims: Any, wheels: dict[str, Path]
) -> Iterator[Node]:
    broker = Mosquitto(tmp_path / "broker").start()
    shoal.start("controller", *controller_args(fleet, broker.url, tmp_path / "work"))
    python = install_old(wheels[OLD], tmp_path / "opt-shoal")
    _, kubeconfig = sims["paris-01"]
    log = tmp_path / "edge.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(python), "-I", "-m", "shoal", "edge", "--self-update",
             *edge_args("paris-01", broker.url, kubeconfig, tmp_path / "state")[1:]],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )  # fmt: skip
    reports = Recorder(broker.url, "shoal/nodes/paris-01/reported")
    try:
        yield Node(proc, reports, "shoal/nodes/paris-01/reported", log)
    finally:
        reports.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shoal.stop_all()
        broker.stop()


def status_row(fleet: Fleet, node: str, update_state: str) -> dict[str, Any] | None:
    """The node's row in `shoal status --fetch --format json` once it shows the update state."""
    shown = subprocess.run(
        [sys.executable, "-m", "shoal", "status", "--fetch", "--format", "json"],
        cwd=fleet.work, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = {row["node"]: row for row in json.loads(shown.stdout)["nodes"]}
    row = rows.get(node)
    return row if row and (row.get("agentUpdate") or {}).get("state") == update_state else None


def declare(fleet: Fleet, message: str, **agent: Any) -> str:
    fleet.write(
        "fleet.yaml",
        "name: e2e\nvars:\n  motd: hello\n  web_tag: '1.27'\n"
        + "agent: "
        + json.dumps(agent)
        + "\n",
    )
    return fleet.push(message)


def running(version: str, revision: str | None = None) -> Any:
    def check(report: dict[str, Any]) -> bool:
        return (
            report["nodeInfo"].get("agent") == version
            and report["state"] == "Synced"
            and (revision is None or report["revision"] == revision)
        )

    return check


def test_one_commit_upgrades_the_agent_and_a_broken_release_reverts(
    node: Node, fleet: Fleet, wheels: dict[str, Path], tmp_path: Path
) -> None:
    first = node.wait(running(OLD), 180, f"the node never ran agent {OLD}")
    assert "agentUpdate" not in first
    house = wheels[NEW].parent.as_uri()

    started = time.monotonic()
    head = declare(fleet, f"agent {NEW}", version=NEW, wheelhouse=house, sha256=sha256(wheels[NEW]))
    upgraded = node.wait(running(NEW, head), 240, f"the node never reported agent {NEW}")
    upgrade_seconds = time.monotonic() - started
    assert "agentUpdate" not in upgraded
    assert node.proc.poll() is None  # the supervisor itself never restarted
    agent_dir = tmp_path / "state" / "agent"
    assert os.readlink(agent_dir / "current") == str(agent_dir / "versions" / NEW)
    # The supervisor sees the new agent's health file and completes the update.
    wait_until(lambda: not (agent_dir / "update.json").exists(), 30, message="update not completed")

    started = time.monotonic()
    declare(
        fleet,
        f"agent {BROKEN}",
        version=BROKEN,
        wheelhouse=house,
        sha256=sha256(wheels[BROKEN]),
        healthTimeoutSeconds=60,
    )
    reverted = node.wait(
        lambda r: r.get("agentUpdate", {}).get("state") == "reverted" and running(NEW)(r),
        240,
        f"agent {BROKEN} was not reverted",
    )
    revert_seconds = time.monotonic() - started
    assert reverted["agentUpdate"]["version"] == BROKEN
    assert "crashes at start on purpose" in reverted["agentUpdate"]["reason"]
    assert os.readlink(agent_dir / "current") == str(agent_dir / "versions" / NEW)
    # shoal status, from the fleet's clone, shows the version against the declared one.
    row = wait_until(lambda: status_row(fleet, "paris-01", "reverted"), 120, message="no status")
    assert (row["agent"], row["agentDeclared"]) == (NEW, BROKEN)
    table = subprocess.run(
        [sys.executable, "-m", "shoal", "status"], cwd=fleet.work, capture_output=True, text=True
    ).stdout
    assert f"agent {NEW}, the fleet declares {BROKEN}" in table
    assert f"agent update to {BROKEN} reverted: agent {BROKEN} exited with code 1" in table
    assert f"agents: 1 on {NEW} (the fleet declares {BROKEN})" in table

    declare(
        fleet,
        "a wheel that does not match",
        version=BROKEN,
        url=wheels[BROKEN].as_uri(),
        sha256="0" * 64,
    )
    refused = node.wait(
        lambda r: r.get("agentUpdate", {}).get("state") == "failed",
        120,
        "a bad sha256 was not refused",
    )
    assert "sha256" in refused["agentUpdate"]["reason"] and refused["nodeInfo"]["agent"] == NEW

    declare(
        fleet, "a version the wheelhouse lacks", version="9.9.9", wheelhouse=house, sha256="1" * 64
    )
    missing = node.wait(
        # A report may show the install under way first ("installing"): wait it out.
        lambda r: (
            r.get("agentUpdate", {}).get("version") == "9.9.9"
            and r["agentUpdate"].get("state") != "installing"
        ),
        120,
        "a missing version was not reported",
    )
    assert (
        missing["agentUpdate"]["state"] == "failed"
        and "no wheel" in missing["agentUpdate"]["reason"]
    )
    # The node's store kept its document through every switch.
    stored = json.loads((tmp_path / "state" / "desired.json").read_text())
    assert stored["agent"]["version"] == "9.9.9" and stored["revision"] == fleet.head()
    print(f"\nagent update: commit -> node reports {NEW}: {upgrade_seconds:.1f}s; "
          f"commit -> broken {BROKEN} reverted and reported: {revert_seconds:.1f}s")  # fmt: skip


# --- power cuts ------------------------------------------------------------------------
# Each step of the switch-over, with the whole agent (supervisor and child) killed by
# SIGKILL right there; then the node is started again and must come back on one complete
# version, reporting it. The Desired document is published straight to the broker here.

STEPS = ("downloaded", "installed", "complete", "recorded", "selected", "trial", "healthy")


@pytest.fixture(scope="module")
def old_python(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Path:
    return install_old(wheels[OLD], tmp_path_factory.mktemp("old-agent") / "venv")


def supervise(
    python: Path, broker: str, kubeconfig: Path, state: Path, log: Path, **env: str
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(python), "-I", "-m", "shoal", "edge", "--self-update",
             *edge_args("paris-01", broker, kubeconfig, state)[1:]],
            cwd=state.parent, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **env},
        )  # fmt: skip


def publish_release(broker: str, version: str, wheel: Path, generation: int) -> None:
    from shadow import AgentRelease, DesiredDocument
    from tests.support.mqtt import publish

    release = AgentRelease(version, url=wheel.as_uri(), sha256=sha256(wheel), health_timeout=60)
    document = DesiredDocument.build("paris-01", f"rev-{version}", generation, {}, release)
    publish(broker, "shoal/nodes/paris-01/desired", document.to_json())


@pytest.mark.parametrize("step", [*STEPS, "reverting"])
def test_a_power_cut_at_any_step_leaves_the_node_on_one_complete_agent(
    step: str, tmp_path: Path, wheels: dict[str, Path], old_python: Path
) -> None:
    from shoal.kubesim import KubeSim

    target = BROKEN if step == "reverting" else NEW
    state, log = tmp_path / "state", tmp_path / "edge.log"
    with Mosquitto(tmp_path / "broker") as broker, KubeSim(port=0) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kube.yaml")
        publish_release(broker.url, target, wheels[target], 1)
        cut = supervise(old_python, broker.url, kubeconfig, state, log, SHOAL_TEST_POWER_CUT=step)
        try:
            assert cut.wait(240) == -signal.SIGKILL, (
                f"no power cut at {step}:\n{log.read_text()[-3000:]}"
            )
        finally:
            if cut.poll() is None:
                os.killpg(cut.pid, signal.SIGKILL)
        with Recorder(broker.url, "shoal/nodes/paris-01/reported") as reports:
            again = supervise(old_python, broker.url, kubeconfig, state, log)
            node = Node(again, reports, "shoal/nodes/paris-01/reported", log)
            try:
                if step == "reverting":
                    back = node.wait(
                        lambda r: r.get("agentUpdate", {}).get("state") == "reverted",
                        180,
                        "no revert",
                    )
                    assert back["nodeInfo"]["agent"] == OLD
                else:
                    done = node.wait(
                        lambda r: r["nodeInfo"].get("agent") == NEW and "agentUpdate" not in r,
                        180,
                        f"not on {NEW}",
                    )
                    assert done["observedGeneration"] == 1
                    wait_until(
                        lambda: not (state / "agent" / "update.json").exists(),
                        30,
                        message="update not completed",
                    )
            finally:
                again.send_signal(signal.SIGTERM)
                assert again.wait(30) == 0
    versions = list((state / "agent" / "versions").iterdir())
    assert all((v / ".complete").is_file() for v in versions), versions  # nothing half-installed
    assert json.loads((state / "desired.json").read_text())["generation"] == 1
