"""`shoal demo`: the whole system on one machine, in one command.

Creates a fleet repository from the template (`<dir>/fleet`), starts the embedded
MQTT broker, `shoal controller` (with the status writer) and one `shoal edge` per
template node, each against its own SIMULATED Kubernetes API server (`KubeSim`,
in this process). Waits until every node reports Synced and the status branch
records it, prints `shoal status`, and tells the person how to change the fleet and
watch the change roll out. Ctrl-C (or SIGTERM) stops everything: children get SIGTERM
and are waited for; their logs stay in `<dir>/run/logs/`. A requested stop exits 0 at
any point; only `--timeout` running out exits 1.

The controller and the agents are real processes started with
`sys.executable -m shoal ...`, exactly as a person would run them.
"""

from __future__ import annotations

import argparse
import json
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

# A stop the person asks for (Ctrl-C, SIGTERM) is a normal end: exit 0, whether or not
# the fleet had converged; only --timeout running out is a failure (exit 1).
EXIT_OK, EXIT_INVALID, EXIT_UNAVAILABLE = 0, 1, 2
# How long the controller and the agents get to stop before they are killed.
STOP_SECONDS = 20.0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run a whole simulated fleet on this machine (start here)",
        description="Create a fleet repository from the template, start an MQTT broker, "
        "the controller and one edge agent per node (each against a SIMULATED Kubernetes "
        "API server), wait until every node is Synced, and show the fleet's status. Then "
        "commit a change in the fleet repository and watch it roll out. Ctrl-C stops it.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("shoal-demo"),
        help="folder for the fleet repository and the run state (default: ./%(default)s)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=1883,
        help="MQTT port for the embedded broker; a free one is used when it is taken "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="give up (exit 1) when the fleet is not Synced after this long "
        "(default: %(default)s); Ctrl-C or SIGTERM stop the demo with exit 0",
    )
    parser.add_argument(
        "--exit-when-synced",
        action="store_true",
        help="stop everything once the fleet is Synced and recorded (for CI and tests)",
    )
    parser.add_argument(
        "--status-interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="the controller's --status-interval (default: %(default)s)",
    )
    return parser


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while the demo runs."""


class Demo:
    """Every part the demo started, so that `stop()` ends them all."""

    def __init__(self, root: Path, out: IO[str]) -> None:
        self.root = root.resolve()
        self.fleet = self.root / "fleet"
        self.run_dir = self.root / "run"
        self.logs = self.run_dir / "logs"
        self.out = out
        self.stopping = threading.Event()
        self.force = threading.Event()  # a second Ctrl-C: kill instead of waiting
        self.broker: Any = None
        self.sims: list[Any] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.log_files: list[IO[bytes]] = []
        self.reports: dict[str, dict[str, Any]] = {}
        self._reports_lock = threading.Lock()
        self._client: Any = None

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def check(self) -> None:
        if self.stopping.is_set():
            raise Interrupted()
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {proc.returncode}; see {self.logs / name}.log"
                )

    # --- the fleet repository ----------------------------------------------------------

    def make_fleet(self) -> bool:
        """Create the fleet repository from the template; False when it already exists."""
        if (self.fleet / ".git").exists():
            return False
        from controller.commands.init import template_dir

        shutil.copytree(
            template_dir(), self.fleet, ignore=shutil.ignore_patterns("__pycache__", ".git")
        )
        git(self.fleet, "init", "-q", "-b", "main")
        for key, value in (("user.name", "shoal demo"), ("user.email", "demo@shoal.local")):
            if not git(self.fleet, "config", key, check=False).strip():
                git(self.fleet, "config", "--local", key, value)
        git(self.fleet, "add", "--all")
        git(self.fleet, "commit", "-q", "-m", "Start the fleet from the shoal template")
        return True

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

    def watch_reports(self, broker: str, prefix: str) -> None:
        from shadow import Topics
        from transport import BrokerOptions, make_client

        topics = Topics(prefix)
        options = BrokerOptions.from_url(broker)
        client = make_client(options, f"shoal-demo-{os.getpid()}")

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            parsed = topics.parse(msg.topic)
            if parsed is None or not msg.payload:
                return
            try:
                data = json.loads(msg.payload)
            except ValueError:
                return
            if isinstance(data, dict) and data.get("node") == parsed[0]:
                with self._reports_lock:
                    self.reports[parsed[0]] = data

        client.on_message = on_message
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.all_nodes("reported"), 1)
        client.connect(options.host, options.port)
        client.loop_start()
        self._client = client

    def latest(self) -> dict[str, dict[str, Any]]:
        with self._reports_lock:
            return dict(self.reports)

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
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
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


def git(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


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


def run(args: argparse.Namespace) -> int:
    demo = Demo(args.dir, sys.stdout)

    def on_signal(signum: int, frame: Any) -> None:
        if demo.stopping.is_set():  # a second Ctrl-C: do not wait for goodbyes
            demo.force.set()
        demo.stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(demo, args)
    except Interrupted:
        demo.say("\nstopping... (Ctrl-C again to kill at once)")
        return EXIT_OK
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(f"logs: {demo.logs}", file=sys.stderr)
        return EXIT_INVALID
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        demo.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        parts = demo.started()
        if parts:
            demo.say(f"stopped {parts}")


def _run(demo: Demo, args: argparse.Namespace) -> int:
    from controller.fleet.problems import FleetError

    deadline = time.monotonic() + args.timeout
    if demo.make_fleet():
        demo.say(f"Created a fleet repository from the template in {demo.fleet}")
    else:
        demo.say(f"Using the existing fleet repository in {demo.fleet}")
    try:
        nodes, prefix = demo.nodes_and_prefix()
    except FleetError as exc:
        print(f"error: the fleet in {demo.fleet} does not load:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    if demo.run_dir.exists():
        shutil.rmtree(demo.run_dir)  # a fresh simulated fleet every run
    demo.logs.mkdir(parents=True)

    branch = git(demo.fleet, "rev-parse", "--abbrev-ref", "HEAD").strip()
    if branch in ("HEAD", "shoal-status"):  # detached, or someone is looking at the status
        branch = "main"
    broker = demo.start_broker(args.port)
    demo.say(f"Started an embedded MQTT broker on {broker}")
    demo.check()  # a Ctrl-C while starting up stops here, not after every part is up
    demo.watch_reports(broker, prefix)
    web = 8080 if port_free(8080) else free_port()  # the controller's dashboard
    demo.spawn(
        "controller",
        "controller",
        "--repo",
        str(demo.fleet),
        "--branch",
        branch,
        "--broker",
        broker,
        "--work-dir",
        str(demo.run_dir / "controller"),
        "--interval",
        "10",
        "--status-interval",
        str(args.status_interval),
        "--http",
        f"127.0.0.1:{web}",
    )
    demo.say(f"Started shoal controller following {demo.fleet} (branch {branch})")
    demo.say(f"Dashboard: http://127.0.0.1:{web}/ (open it in a browser)")
    demo.start_edges(nodes, broker, prefix)
    demo.say(
        f"Started {len(nodes)} edge agents ({', '.join(nodes)}).\n"
        "Each one talks to its own SIMULATED Kubernetes cluster: an API-server stand-in "
        "in this process.\nNothing really runs; the objects, rollouts and readiness are "
        "simulated.\n"
    )
    head = git(demo.fleet, "rev-parse", branch).strip()
    wait_synced(demo, nodes, head, deadline)
    wait_recorded(demo, nodes, head, deadline)
    demo.say("")
    print_status(demo.fleet, branch)
    if args.exit_when_synced:
        return EXIT_OK
    print_next_steps(demo)
    follow(demo)
    return EXIT_OK


def _progress(demo: Demo, nodes: list[str], head: str) -> tuple[int, str]:
    latest = demo.latest()
    counts: dict[str, int] = {}
    synced = 0
    for node in nodes:
        report = latest.get(node)
        if report is None:
            state = "waiting"
        elif report.get("revision") != head:
            state = "Progressing" if report.get("state") != "Failed" else "Failed"
        else:
            state = str(report.get("state"))
        if state == "Synced":
            synced += 1
        counts[state] = counts.get(state, 0) + 1
    detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "Synced")
    line = f"{synced}/{len(nodes)} nodes Synced at {head[:7]}" + (f" ({detail})" if detail else "")
    return synced, line


def wait_synced(demo: Demo, nodes: list[str], head: str, deadline: float) -> None:
    last = ""
    tty = demo.out.isatty()
    while True:
        demo.check()
        synced, line = _progress(demo, nodes, head)
        if line != last:
            demo.out.write(("\r\033[K" if tty else "") + line + ("" if tty else "\n"))
            demo.out.flush()
            last = line
        if synced == len(nodes):
            if tty:
                demo.say()
            return
        if time.monotonic() > deadline:
            if tty:
                demo.say()
            raise TimeoutError(f"the fleet is not Synced in time: {line}")
        demo.stopping.wait(0.2)


def wait_recorded(demo: Demo, nodes: list[str], head: str, deadline: float) -> None:
    """Until the status branch says every node is Synced at `head`."""
    import yaml

    demo.say("Waiting for the controller to commit the reports to the shoal-status branch...")
    while True:
        demo.check()
        text = git(demo.fleet, "show", "shoal-status:summary.yaml", check=False)
        summary = yaml.safe_load(text) if text else None
        if isinstance(summary, dict):
            revision = (summary.get("revisions") or {}).get(head) or {}
            synced = (summary.get("states") or {}).get("Synced", 0)
            if revision.get("nodes") == len(nodes) and synced == len(nodes):
                return
        if time.monotonic() > deadline:
            raise TimeoutError("the status branch does not record the Synced fleet in time")
        demo.stopping.wait(0.3)


def print_status(fleet: Path, branch: str) -> None:
    """`shoal status` on the demo's fleet repository, with that command's defaults."""
    from controller.commands import status

    parser = argparse.ArgumentParser(prog="shoal")
    status.add_parser(parser.add_subparsers())
    status.run(parser.parse_args(["status", str(fleet), "--ref", branch]))
    sys.stdout.flush()


def print_next_steps(demo: Demo) -> None:
    fleet = demo.fleet
    demo.say(
        f"""
The fleet is Synced. Now change it the GitOps way, in another terminal:

  cd {fleet}
  $EDITOR nodes/paris-gw-01.yaml      # set web_replicas: 2 -> 3
  git commit -am "three web replicas on paris-gw-01"

The controller notices the commit within a second and publishes the new desired state
of the nodes it changes; their agents apply it and report, and the reports come back
into the repository as commits on the shoal-status branch:

  shoal status                        # in {fleet}: every node, its revision, its apps
  git log --oneline shoal-status      # one commit per batch of changes

Changes show up below as they happen. Logs: {demo.logs}
Press Ctrl-C to stop everything.
"""
    )


def follow(demo: Demo) -> None:
    """Print each node's state changes until Ctrl-C."""
    seen = {n: (r.get("state"), r.get("revision")) for n, r in demo.latest().items()}
    while True:
        demo.check()
        for node, report in sorted(demo.latest().items()):
            now = (report.get("state"), report.get("revision"))
            if seen.get(node) != now:
                seen[node] = now
                problems = [
                    f"{name}: {app.get('message')}"
                    for name, app in (report.get("apps") or {}).items()
                    if app.get("state") == "Failed" and app.get("message")
                ]
                detail = f" - {'; '.join(problems)}" if problems else ""
                stamp = time.strftime("%H:%M:%S")
                demo.say(f"{stamp} {node}: {now[0]} at {str(now[1])[:7]}{detail}")
        demo.stopping.wait(0.3)
