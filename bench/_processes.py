"""A `shoal controller` process for the end-to-end benchmarks (`status_fleet`, `rollout`).

Started from the checkout (so `python -m shoal` is this tree's), with a long fetch
interval (the bench pushes and the ref watcher notices) and its output in `log`.
"""

from __future__ import annotations

import resource
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


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): `ru_maxrss` would also count the image of
    the parent it was forked from (bench.render_fleet's, holding a whole fleet), which
    Linux carries over an exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
