"""The demo's processes: start every part, notice one dying, stop them all in order.

`Supervisor` starts the embedded broker, one SIMULATED Kubernetes API server
(`shoal.kubesim.KubeSim`) per node, and `shoal controller` / `shoal edge` as real
processes (`sys.executable -m shoal ...`, in their own session, logs in
`<dir>/run/logs/`). `check()` raises `Interrupted` once a stop was asked for (Ctrl-C,
SIGTERM) and `PartExited` when a child ended on its own; `stop()` sends SIGTERM to the
edges, then the controller (its status writer flushes), waits `STOP_SECONDS`, kills
what is left, and stops the simulated clusters and the broker.

Used by `shoal.demo` (the command); what the person sees is `shoal.demo.progress`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from shadow.errors import Unavailable

# How long the controller and the agents get to stop before they are killed.
STOP_SECONDS = 20.0
DEMO_NAME, DEMO_EMAIL = "shoal demo", "demo@shoal.local"


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while the demo runs: stop everything and exit 0."""


class PartExited(Unavailable):
    """A part the demo started (the controller, an edge agent) exited on its own; its log
    in `<dir>/run/logs/` says why."""


class Supervisor:
    """Every part the demo started, so that `stop()` ends them all."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.fleet = self.root / "fleet"
        self.run_dir = self.root / "run"
        self.logs = self.run_dir / "logs"
        self.stopping = threading.Event()
        self.force = threading.Event()  # a second Ctrl-C: kill instead of waiting
        self.broker: Any = None
        self.sims: list[Any] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.log_files: list[IO[bytes]] = []

    def check(self) -> None:
        """`Interrupted` once a stop was asked for; `PartExited` when a child died."""
        if self.stopping.is_set():
            raise Interrupted()
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise PartExited(
                    f"{name} exited with code {proc.returncode}; see {self.logs / name}.log"
                )

    def wait(self, seconds: float) -> None:
        """Sleep, but wake at once when a stop is asked for."""
        self.stopping.wait(seconds)

    # --- the fleet repository ----------------------------------------------------------

    def make_fleet(self) -> bool:
        """Create the fleet repository from the template; False when it already exists."""
        if (self.fleet / ".git").exists():
            return False
        from controller.commands.init import commit_template, template_dir

        try:
            shutil.copytree(
                template_dir(), self.fleet, ignore=shutil.ignore_patterns("__pycache__", ".git")
            )
        except OSError as exc:  # shutil.Error too: a permission, a full disk
            raise Unavailable(f"cannot write the demo's fleet into {self.fleet}: {exc}") from exc
        commit_template(self.fleet, DEMO_NAME, DEMO_EMAIL)
        return True

    def fresh_run_dir(self) -> None:
        """An empty `<dir>/run` with its `logs/`: a fresh simulated fleet every run."""
        try:
            if self.run_dir.exists():
                shutil.rmtree(self.run_dir)
            self.logs.mkdir(parents=True)
        except OSError as exc:
            raise Unavailable(f"cannot use {self.run_dir}: {exc}") from exc

    def nodes_and_prefix(self) -> tuple[list[str], str]:
        from controller.fleet.loading import load_fleet

        fleet = load_fleet(self.fleet)
        return sorted(fleet.nodes), fleet.topic_prefix

    # --- the parts ---------------------------------------------------------------------

    def start_broker(self, port: int) -> str:
        from transport import EmbeddedBroker

        if not port_free(port):
            port = 0
        self.broker = EmbeddedBroker("127.0.0.1", port)
        self.broker.start()
        url: str = self.broker.url
        return url

    def spawn(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.log_files.append(log)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # Own session: the terminal's Ctrl-C reaches the demo only, which then stops
        # the children in order instead of every process printing its own interruption.
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "shoal", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    def start_edges(self, nodes: list[str], broker: str, prefix: str) -> None:
        from shoal.kubesim import KubeSim

        for node in nodes:
            self.check()
            sim = KubeSim(port=0, rollout_seconds=0.5)
            sim.start()
            self.sims.append(sim)
            kubeconfig = sim.write_kubeconfig(self.run_dir / "kube" / f"{node}.yaml")
            self.spawn(
                f"edge-{node}",
                "edge",
                "--node",
                node,
                "--broker",
                broker,
                "--kubeconfig",
                str(kubeconfig),
                "--state-dir",
                str(self.run_dir / "edge" / node),
                "--topic-prefix",
                prefix,
                "--reconcile-interval",
                "5",
            )

    def started(self) -> str:
        """What was started, as `stop()` ends it: `the controller, 6 edge agents and the broker`."""
        edges = sum(1 for name in self.procs if name.startswith("edge-"))
        parts = ["the controller"] if "controller" in self.procs else []
        parts += [f"{edges} edge agents"] if edges else []
        parts += ["the broker"] if self.broker is not None else []
        return (
            ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else ""
        )

    def stop(self) -> None:
        # Edges first, then the controller (its status writer flushes on SIGTERM).
        order = sorted(self.procs, key=lambda n: n == "controller")
        for name in order:
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for name in order:
            proc = self.procs[name]
            while proc.poll() is None and time.monotonic() < deadline:
                if self.force.wait(0.05):
                    break
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        for log in self.log_files:
            log.close()
        for sim in self.sims:
            sim.stop()
        if self.broker is not None:
            self.broker.stop()


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
