"""A `shoal controller` process for the end-to-end benchmarks (`status_fleet`, `rollout`).

Started from the checkout (so `python -m shoal` is this tree's), with a long fetch
interval (the bench pushes and the ref watcher notices) and its output in `log`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def start_controller(
    remote: Path, broker_url: str, work_dir: Path, log: IO[bytes], *, status_interval: float
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "shoal", "controller", "--repo", str(remote)),
            *("--broker", broker_url, "--work-dir", str(work_dir)),
            *("--interval", "60", "--status-interval", str(status_interval)),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def stop_controller(controller: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the controller flushes its status), then kill after 30 s."""
    controller.terminate()
    try:
        controller.wait(30)
    except subprocess.TimeoutExpired:
        controller.kill()
        controller.wait()
