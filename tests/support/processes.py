"""`shoal` commands as real processes, for end-to-end and fault tests.

    procs = Processes(tmp_path / "logs")
    procs.start("controller", "controller", "--repo", ...)
    procs.kill("controller")      # SIGKILL to it and every child (git): a crash, an OOM kill
    procs.stop_all()

Each process runs `sys.executable -m shoal ...` from the repository root in a session
of its own, with its output appended to `<logs>/<name>.log` (a restarted process keeps
its log). `kill` hits the whole session, as systemd or a container runtime does, so a
git child the process had started dies with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Processes:
    """`shoal` subcommands as real processes; `stop_all()` stops every one still running."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, module: str = "shoal") -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM) -> int:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(10)

    def kill(self, name: str) -> int:
        """`kill -9` the process and everything in its session; returns its exit status."""
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(30)

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)
