"""What the demo shows the person: the fleet converging, its status, what to try next.

`ReportWatcher` subscribes to every node's Reported document (as `shoal status` would
read them, but live); `wait_synced` prints one progress line (`4/6 nodes Synced at
1a2b3c4 (2 Progressing)`, rewritten in place on a terminal) until every node is
Synced at the head; `wait_recorded` waits for the status branch to say so too;
`print_status` is `shoal status`; `print_next_steps` and `follow` teach the GitOps
loop and print each node's changes until Ctrl-C.

Used by `shoal.demo` (the command). Every wait calls `Supervisor.check()`, so a
Ctrl-C or a part that died ends it at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from shadow.errors import BadInput
from shoal.demo.supervisor import Supervisor


class NotSyncedInTime(BadInput):
    """`--timeout` ran out before every node was Synced and recorded (exit 1): an app
    that fails, or a machine too slow for the timeout; the logs say which."""


class Screen:
    """The demo's output (stdout): whole lines, flushed at once."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()


class ReportWatcher:
    """The latest Reported document of every node, from one MQTT subscription."""

    def __init__(self) -> None:
        self.reports: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    def start(self, broker: str, prefix: str) -> None:
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
                with self._lock:
                    self.reports[parsed[0]] = data

        client.on_message = on_message
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.all_nodes("reported"), 1)
        client.connect(options.host, options.port)
        client.loop_start()
        self._client = client

    def latest(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self.reports)

    def stop(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None


def progress_line(
    latest: dict[str, dict[str, Any]], nodes: list[str], head: str
) -> tuple[int, str]:
    """(nodes Synced at `head`, `4/6 nodes Synced at 1a2b3c4 (2 Progressing)`)."""
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


def wait_synced(
    parts: Supervisor,
    screen: Screen,
    reports: ReportWatcher,
    nodes: list[str],
    head: str,
    deadline: float,
) -> None:
    """Until every node reports Synced at `head`; `NotSyncedInTime` after `deadline`."""
    last = ""
    tty = screen.out.isatty()
    while True:
        parts.check()
        synced, line = progress_line(reports.latest(), nodes, head)
        if line != last:
            screen.out.write(("\r\033[K" if tty else "") + line + ("" if tty else "\n"))
            screen.out.flush()
            last = line
        if synced == len(nodes):
            if tty:
                screen.say()
            return
        if time.monotonic() > deadline:
            if tty:
                screen.say()
            raise NotSyncedInTime(f"the fleet is not Synced in time: {line}")
        parts.wait(0.2)


def wait_recorded(
    parts: Supervisor, screen: Screen, nodes: list[str], head: str, deadline: float
) -> None:
    """Until the status branch says every node is Synced at `head`."""
    import yaml

    from controller.gitcli import GitFailed, git

    screen.say("Waiting for the controller to commit the reports to the shoal-status branch...")
    while True:
        parts.check()
        try:
            text = git("show", "shoal-status:summary.yaml", cwd=parts.fleet)
        except GitFailed:  # no status commit yet
            text = b""
        summary = yaml.safe_load(text) if text else None
        if isinstance(summary, dict):
            revision = (summary.get("revisions") or {}).get(head) or {}
            synced = (summary.get("states") or {}).get("Synced", 0)
            if revision.get("nodes") == len(nodes) and synced == len(nodes):
                return
        if time.monotonic() > deadline:
            raise NotSyncedInTime("the status branch does not record the Synced fleet in time")
        parts.wait(0.3)


def print_status(fleet: Path, branch: str) -> None:
    """`shoal status` on the demo's fleet repository, with that command's defaults."""
    from controller.commands import status

    parser = argparse.ArgumentParser(prog="shoal")
    status.add_parser(parser.add_subparsers())
    status.run(parser.parse_args(["status", str(fleet), "--ref", branch]))
    sys.stdout.flush()


def print_next_steps(screen: Screen, parts: Supervisor) -> None:
    fleet = parts.fleet
    screen.say(
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

Changes show up below as they happen. Logs: {parts.logs}
Press Ctrl-C to stop everything.
"""
    )


def follow(parts: Supervisor, screen: Screen, reports: ReportWatcher) -> None:
    """Print each node's state changes until Ctrl-C."""
    seen = {n: (r.get("state"), r.get("revision")) for n, r in reports.latest().items()}
    while True:
        parts.check()
        for node, report in sorted(reports.latest().items()):
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
                screen.say(f"{stamp} {node}: {now[0]} at {str(now[1])[:7]}{detail}")
        parts.wait(0.3)
