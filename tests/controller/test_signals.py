"""A long-running `shoal controller` stopped by Ctrl-C or SIGTERM stops cleanly, exit 0
(documented: a service manager stopping it is not a failure)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.controller import FleetRepo
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_controller_with_exit_0(
    tmp_path: Path, mosquitto: Mosquitto, sig: signal.Signals
) -> None:
    repo = FleetRepo.create(tmp_path, {"oslo-1": {"site": "oslo"}})
    command = ["controller", "--repo", str(repo.remote), "--broker", mosquitto.url]
    with Recorder(mosquitto.url, "shoal/nodes/oslo-1/desired") as recorder:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shoal",
                *command,
                "--no-status",
                "--work-dir",
                str(tmp_path / "work"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            recorder.wait_for("shoal/nodes/oslo-1/desired", 20)  # running, publishing
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert proc.returncode == 0, err
    assert "stopping" in err and "Traceback" not in err
