"""`shoal demo --exit-when-synced`: the README's first command, end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ROOT, git
from tests.support.mosquitto import free_port


def test_demo_converges_reports_and_stops_cleanly(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "shoal", "demo", "--dir", str(demo)),
            *("--exit-when-synced", "--port", str(free_port()), "--timeout", "120"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "SIMULATED" in out
    assert "Dashboard: http://127.0.0.1:" in out
    assert "6/6 nodes Synced" in out
    assert "6 nodes: 6 Synced; 0 behind" in out
    assert "Traceback" not in out
    head = git(demo / "fleet", "rev-parse", "HEAD")
    assert f"synced to {head[:7]}" in git(demo / "fleet", "log", "--format=%s", "shoal-status")
    # Every process was stopped, not abandoned: each one said goodbye in its log.
    logs = demo / "run" / "logs"
    edges = sorted(logs.glob("edge-*.log"))
    assert len(edges) == 6
    for log in edges:
        assert "stopped" in log.read_text(), log.name
    assert "stopping" in (logs / "controller.log").read_text()


def test_demo_that_times_out_says_so_and_stops_everything(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "shoal", "demo", "--dir", str(demo)),
            *("--exit-when-synced", "--port", str(free_port()), "--timeout", "0.5"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: the fleet is not Synced in time" in done.stderr
    assert f"logs: {demo.resolve() / 'run' / 'logs'}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "stopped the controller, 6 edge agents and the broker" in done.stdout
