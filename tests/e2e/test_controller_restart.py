"""Reports the edges publish while the controller is down reach git once it is back."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.e2e.conftest import Fleet, Processes, controller_args, edge_args, git
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until

NODES = ("paris-01", "lyon-01")


def synced_at(fleet: Fleet, node: str, revision: str) -> bool:
    status = fleet.node_status(node)
    return bool(
        status and status["state"] == "Synced" and status["observed"]["revision"] == revision
    )


def test_killing_the_controller_while_edges_report_loses_no_report(
    mosquitto: Mosquitto, fleet: Fleet, shoal: Processes, sims: dict, tmp_path: Path
) -> None:
    first = git(fleet.work, "rev-parse", "HEAD")
    controller = controller_args(fleet, mosquitto.url, tmp_path / "ctl")
    shoal.start("controller", *controller)
    for node in NODES:
        shoal.start(node, *edge_args(node, mosquitto.url, sims[node][1], tmp_path / node))
    for node in NODES:
        wait_until(lambda n=node: synced_at(fleet, n, first), 40, message=f"{node} at first")

    with Recorder(mosquitto.url, "shoal/nodes/+/desired", "shoal/nodes/+/reported") as seen:

        def revision(node: str, channel: str) -> str | None:
            payload = seen.latest.get(f"shoal/nodes/{node}/{channel}")
            return json.loads(payload).get("revision") if payload else None

        fleet.write("fleet.yaml", "name: e2e\nvars:\n  motd: bonjour\n  web_tag: '1.27'\n")
        second = fleet.push("a new message of the day everywhere")
        wait_until(
            lambda: all(revision(n, "desired") == second for n in NODES), 30, message="publish"
        )
        # Killed at once: no flush, no goodbye. The edges go on applying and reporting.
        shoal.stop("controller", signal.SIGKILL)
        wait_until(
            lambda: all(
                revision(n, "reported") == second
                and json.loads(seen.latest[f"shoal/nodes/{n}/reported"])["state"] == "Synced"
                for n in NODES
            ),
            30,
            message="edges report the new revision while the controller is down",
        )

    shoal.start("controller", *controller)
    for node in NODES:
        wait_until(lambda n=node: synced_at(fleet, n, second), 30, message=f"{node} recorded")
    assert any(f"synced to {second[:7]}" in s for s in fleet.status_log()), fleet.status_log()
