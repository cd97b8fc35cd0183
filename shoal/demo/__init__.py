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

This module is the command and its steps, in order; every line it prints at start-up
("Started ...") is written here. `shoal.demo.supervisor` starts, watches and stops the
processes; `shoal.demo.progress` shows the fleet converging and what to try next.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from shadow.errors import ExitCode
from shoal.demo.progress import NotSyncedInTime, ReportWatcher, Screen
from shoal.demo.supervisor import Interrupted, Supervisor, free_port, port_free


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


def run(args: argparse.Namespace) -> ExitCode:
    import signal

    parts, screen, reports = Supervisor(args.dir), Screen(sys.stdout), ReportWatcher()

    def on_signal(signum: int, frame: Any) -> None:
        if parts.stopping.is_set():  # a second Ctrl-C: do not wait for goodbyes
            parts.force.set()
        parts.stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(parts, screen, reports, args)
    except Interrupted:
        # A stop the person asks for (Ctrl-C, SIGTERM) is a normal end: exit 0, whether or
        # not the fleet had converged; only --timeout running out is a failure (exit 1).
        screen.say("\nstopping... (Ctrl-C again to kill at once)")
        return ExitCode.OK
    except NotSyncedInTime as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(f"logs: {parts.logs}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    finally:  # anything else (git, the broker, a part that died) is said by shoal/cli.py
        reports.stop()
        parts.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        started = parts.started()
        if started:
            screen.say(f"stopped {started}")


def _run(
    parts: Supervisor, screen: Screen, reports: ReportWatcher, args: argparse.Namespace
) -> ExitCode:
    from controller.fleet.problems import FleetError
    from controller.gitcli import git_text
    from shoal.demo import progress

    deadline = time.monotonic() + args.timeout
    if parts.make_fleet():
        screen.say(f"Created a fleet repository from the template in {parts.fleet}")
    else:
        screen.say(f"Using the existing fleet repository in {parts.fleet}")
    try:
        nodes, prefix = parts.nodes_and_prefix()
    except FleetError as exc:
        print(f"error: the fleet in {parts.fleet} does not load:\n{exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    parts.fresh_run_dir()

    branch = git_text("rev-parse", "--abbrev-ref", "HEAD", cwd=parts.fleet)
    if branch in ("HEAD", "shoal-status"):  # detached, or someone is looking at the status
        branch = "main"
    broker = parts.start_broker(args.port)
    screen.say(f"Started an embedded MQTT broker on {broker}")
    parts.check()  # a Ctrl-C while starting up stops here, not after every part is up
    reports.start(broker, prefix)
    web = 8080 if port_free(8080) else free_port()  # the controller's dashboard
    parts.spawn(
        "controller",
        "controller",
        "--repo",
        str(parts.fleet),
        "--branch",
        branch,
        "--broker",
        broker,
        "--work-dir",
        str(parts.run_dir / "controller"),
        "--interval",
        "10",
        "--status-interval",
        str(args.status_interval),
        "--http",
        f"127.0.0.1:{web}",
    )
    screen.say(f"Started shoal controller following {parts.fleet} (branch {branch})")
    screen.say(f"Dashboard: http://127.0.0.1:{web}/ (open it in a browser)")
    parts.start_edges(nodes, broker, prefix)
    screen.say(
        f"Started {len(nodes)} edge agents ({', '.join(nodes)}).\n"
        "Each one talks to its own SIMULATED Kubernetes cluster: an API-server stand-in "
        "in this process.\nNothing really runs; the objects, rollouts and readiness are "
        "simulated.\n"
    )
    head = git_text("rev-parse", branch, cwd=parts.fleet)
    progress.wait_synced(parts, screen, reports, nodes, head, deadline)
    progress.wait_recorded(parts, screen, nodes, head, deadline)
    screen.say("")
    progress.print_status(parts.fleet, branch)
    if args.exit_when_synced:
        return ExitCode.OK
    progress.print_next_steps(screen, parts)
    progress.follow(parts, screen, reports)
    return ExitCode.OK
