"""Long-running commands stopped on request (Ctrl-C, SIGTERM) exit 0 after cleaning up;
only `shoal demo --timeout` running out is a failure (exit 1)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.e2e.conftest import ROOT, Fleet, Processes, controller_args, edge_args
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.waiting import wait_until


class Output:
    """A process's stdout, read in a thread so that the test can poll it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._lock:
                self.text += line

    def has(self, fragment: str) -> bool:
        with self._lock:
            return fragment in self.text


def start_demo(demo: Path) -> tuple[subprocess.Popen[str], Output]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "shoal", "demo", "--dir", str(demo), "--port", str(free_port())],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, Output(proc)


def stop(proc: subprocess.Popen[str], sig: int) -> int:
    try:
        proc.send_signal(sig)
        return proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_ctrl_c_before_the_fleet_is_synced_stops_everything_and_exits_0(
    tmp_path: Path,
) -> None:
    proc, out = start_demo(tmp_path / "demo")
    try:
        # The broker is up, no agent has reported yet: a stop asked for while converging.
        wait_until(lambda: out.has("Started an embedded MQTT broker"), 30, message=out.text)
    finally:
        code = stop(proc, signal.SIGINT)
    wait_until(lambda: out.has("the broker\n"), 10, message=out.text)
    assert code == 0, out.text
    assert "stopping..." in out.text and "Traceback" not in out.text
    # It stops at once, without first starting what it had not started yet.
    assert "6/6 nodes Synced" not in out.text
    assert "\nstopped " in out.text and "the broker" in out.text


def test_ctrl_c_after_the_fleet_is_synced_exits_0(tmp_path: Path) -> None:
    proc, out = start_demo(tmp_path / "demo")
    try:
        wait_until(lambda: out.has("Press Ctrl-C to stop everything"), 90, message=out.text)
    finally:
        code = stop(proc, signal.SIGTERM)
    assert code == 0, out.text
    assert "Traceback" not in out.text
    for log in sorted((tmp_path / "demo" / "run" / "logs").glob("edge-*.log")):
        assert "stopped" in log.read_text(), log.name


def test_controller_and_edge_exit_0_on_sigterm_and_sigint(
    mosquitto: Mosquitto, fleet: Fleet, shoal: Processes, sims: dict, tmp_path: Path
) -> None:
    shoal.start("controller", *controller_args(fleet, mosquitto.url, tmp_path / "ctl"))
    _sim, kubeconfig = sims["paris-01"]
    shoal.start("edge", *edge_args("paris-01", mosquitto.url, kubeconfig, tmp_path / "edge"))
    wait_until(lambda: fleet.node_status("paris-01") is not None, 40, message="a report")
    assert shoal.stop("edge", signal.SIGINT) == 0, shoal.log("edge")
    assert shoal.stop("controller", signal.SIGTERM) == 0, shoal.log("controller")
