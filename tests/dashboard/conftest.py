"""A running fleet for the dashboard tests, shared by the tests of a module: Mosquitto,
`shoal controller --http` and two `shoal edge --http` agents as real processes, each
edge on its own KubeSim; the third node has no agent (it never reports).

paris-01 runs `base` (Ready) and `gadget`, a kind its cluster does not serve (Failed);
lyon-01 runs `base`. `Running.report()` publishes a Reported document as an edge
would, for states and messages a test wants to see on the page.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shoal.kubesim import KubeSim
from tests.e2e.conftest import BASE_TEMPLATE, Fleet, Processes, controller_args, edge_args
from tests.support.mosquitto import Mosquitto, free_port, wait_for_port
from tests.support.reports import report
from tests.support.waiting import wait_until
from transport import BrokerOptions, make_client

GADGET_TEMPLATE = """\
apiVersion: gadgets.example.com/v1
kind: Gadget
metadata:
  name: gadget
spec:
  size: 3
"""
NODES = {"paris-01": "paris", "paris-02": "paris", "lyon-01": "lyon"}
EDGES = ("paris-01", "lyon-01")


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    """GET `url`: (status, body text, headers), for any status."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read().decode(), dict(response.headers.items())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers.items())


@dataclass
class Running:
    fleet: Fleet
    mosquitto: Mosquitto
    processes: Processes
    base: str  # the controller's http://127.0.0.1:PORT
    edge_ports: dict[str, int]

    def get(self, path: str, **headers: str) -> tuple[int, str, dict[str, str]]:
        return fetch(self.base + path, headers)

    def report(self, node: str, **fields: Any) -> None:
        """Publish a report for `node` on its topic, as its edge would (retained)."""
        payload = report(node, **fields).to_json()
        options = BrokerOptions.from_url(self.mosquitto.url)
        client = make_client(options, f"test-report-{node}")
        client.connect(options.host, options.port)
        client.loop_start()
        try:
            client.publish(
                f"shoal/nodes/{node}/reported", payload, qos=1, retain=True
            ).wait_for_publish(10)
        finally:
            client.disconnect()
            client.loop_stop()


def make_fleet(root: Path) -> Fleet:
    work, remote = root / "fleet", root / "fleet.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    for key, value in (("user.name", "test"), ("user.email", "test@localhost")):
        subprocess.run(["git", "-C", str(work), "config", key, value], check=True)
    subprocess.run(["git", "-C", str(work), "remote", "add", "origin", str(remote)], check=True)
    fleet = Fleet(work, remote)
    fleet.write("fleet.yaml", "name: dashboard-test\nvars:\n  motd: hello\n")
    for node, site in NODES.items():
        fleet.write(f"nodes/{node}.yaml", f"name: {node}\ntags:\n  site: {site}\n")
    fleet.add_app("base", "", BASE_TEMPLATE)
    fleet.add_app("gadget", "site=paris", GADGET_TEMPLATE)
    fleet.push("three nodes; a gadget on the Paris nodes")
    return fleet


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("dashboard")
    fleet = make_fleet(root)
    mosquitto = Mosquitto(root / "mosquitto").start()
    processes = Processes(root / "logs")
    sims: list[KubeSim] = []
    try:
        port = free_port()
        processes.start(
            "controller",
            *controller_args(fleet, mosquitto.url, root / "ctl", "--http", f"127.0.0.1:{port}"),
        )
        wait_for_port(port, 60)
        edge_ports = {}
        for node in EDGES:
            sim = KubeSim(port=0, rollout_seconds=0.2).start()
            sims.append(sim)
            kubeconfig = sim.write_kubeconfig(root / "kube" / f"{node}.yaml")
            edge_ports[node] = free_port()
            processes.start(
                node,
                *edge_args(node, mosquitto.url, kubeconfig, root / node),
                *("--http", f"127.0.0.1:{edge_ports[node]}"),
            )
        running = Running(fleet, mosquitto, processes, f"http://127.0.0.1:{port}", edge_ports)

        def converged() -> bool:
            status, text, _ = running.get("/")
            return (
                status == 200
                and 'data-node="paris-01" data-state="Degraded"' in text
                and ('data-node="lyon-01" data-state="Synced"' in text)
            )

        wait_until(converged, 90, 0.3, message="the dashboard never showed the fleet converged")
        yield running
    finally:
        processes.stop_all()
        for sim in sims:
            sim.stop()
        mosquitto.stop()
