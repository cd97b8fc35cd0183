"""A whole fleet as real parts, to break on purpose: the fault suite's (and bench.faults') rig.

    with FaultFleet(tmp_path, nodes=500, real=1) as fleet:
        fleet.start()
        first = fleet.converge()              # every node Synced at HEAD, recorded in git
        head = fleet.change("a new greeting")  # a commit every node's render depends on
        fleet.kill_controller(); fleet.start_controller()
        fleet.converge(head); fleet.check()    # generations, reports: tests.support.invariants

The parts: a Mosquitto with persistence (tests.support.mosquitto), a fleet repository
pushed to a bare remote (tests.support.controller.FleetRepo) with one app `web` on every
node, `python -m shoal controller` following it, and the edges: the first `real` nodes
run `python -m shoal edge` against a KubeSim of their own, reached through a
`SlowLink` (tests.support.slowlink), the others are `SimulatedEdges`. The controller
reaches the broker through a `SlowLink` too (`broker_link`). A `Recorder`
keeps every Desired and Reported message the broker delivers, for the invariants.
The real nodes also get the app `bulk`: `bulk_objects` ConfigMaps (`set_bulk`), so an
apply or a prune takes a while behind a slow link.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from shadow import Topics
from shoal.kubesim import KubeSim
from tests.support import invariants
from tests.support.controller import FleetRepo, SlowSaveMosquitto
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.processes import Processes
from tests.support.simedges import SimulatedEdges
from tests.support.slowlink import SlowLink
from tests.support.waiting import wait_until

BULK_TEMPLATE = """\
{% for i in range(count) %}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: bulk-{{ '%03d' % i }}
data:
  greeting: "{{ greeting }}"
{% endfor %}
"""


def node_name(index: int) -> str:
    return f"node-{index:05}"


class FaultFleet:
    def __init__(
        self,
        root: Path,
        *,
        nodes: int,
        real: int = 0,
        bulk_objects: int = 0,
        connections: int = 4,
        status_interval: float = 0.5,
        production_saves: bool = False,
    ) -> None:
        self.root = root
        self.names = [node_name(i) for i in range(nodes)]
        self.real = self.names[:real]
        self.status_interval = status_interval
        self.topics = Topics("shoal")
        self.procs = Processes(root / "logs")
        # Production Mosquitto saves every 30 minutes (`save()` makes one now); the test
        # broker every second.
        broker = SlowSaveMosquitto if production_saves else Mosquitto
        self.broker = broker(root / "mosquitto")
        (root / "git").mkdir(parents=True, exist_ok=True)
        self.repo = FleetRepo.create(
            root / "git",
            {
                n: {"site": f"s{i % 10}", "edge": "real" if n in self.real else "simulated"}
                for i, n in enumerate(self.names)
            },
            greeting="first",
        )
        self.greeting = 0
        if self.real:
            self.set_bulk(bulk_objects, commit=False)
            self.repo.commit_and_push("bulk objects on the real edges")
        self.sims: dict[str, KubeSim] = {}
        self.links: dict[str, SlowLink] = {}
        # The controller's way to the broker (slowed to make a publish last).
        self.broker_link: SlowLink | None = None
        self.recorder: Recorder | None = None
        self.edges: SimulatedEdges | None = None
        self.connections = connections

    # --- the parts ----------------------------------------------------------------------

    def start(self) -> FaultFleet:
        """Broker, recorder, edges, then the controller."""
        self.broker.start()
        self.broker_link = SlowLink(self.broker.port, chunk=512)
        self.recorder = Recorder(
            self.broker.url, self.topics.all_nodes("desired"), self.topics.all_nodes("reported")
        )
        simulated = self.names[len(self.real) :]
        if simulated:
            self.edges = SimulatedEdges(self.broker.url, simulated, self.connections)
        for node in self.real:
            sim = KubeSim(port=0, rollout_seconds=0.2).start()
            self.sims[node], self.links[node] = sim, SlowLink(sim.port)
            self.start_edge(node)
        self.start_controller()
        return self

    def start_broker_again(self) -> None:
        """Start the stopped or killed broker (from its persistence file) and wait until
        the recorder is subscribed again, so what it holds reflects the new broker."""
        assert self.recorder is not None
        recorder, before = self.recorder, self.recorder.subscriptions
        self.broker.start()
        wait_until(lambda: recorder.subscriptions > before, 30, message="recorder not back")

    def controller_args(self) -> list[str]:
        return [
            "controller",
            *("--repo", str(self.repo.remote), "--broker", self.controller_broker),
            *("--work-dir", str(self.root / "controller"), "--interval", "1"),
            *("--status-interval", str(self.status_interval)),
        ]

    @property
    def controller_broker(self) -> str:
        assert self.broker_link is not None, "start() first"
        return f"mqtt://127.0.0.1:{self.broker_link.port}"

    def start_controller(self) -> None:
        self.procs.start("controller", *self.controller_args())

    def kill_controller(self) -> None:
        """`kill -9` the controller and any git it is running."""
        self.procs.kill("controller")

    def kubeconfig(self, node: str) -> Path:
        """The node's kubeconfig, pointing at its KubeSim through the slow link."""
        path = self.sims[node].write_kubeconfig(self.root / "kube" / f"{node}.yaml")
        config = yaml.safe_load(path.read_text())
        config["clusters"][0]["cluster"]["server"] = self.links[node].url
        path.write_text(yaml.safe_dump(config))
        return path

    def start_edge(self, node: str) -> None:
        self.procs.start(
            node,
            *("edge", "--node", node, "--broker", self.broker.url),
            *("--kubeconfig", str(self.kubeconfig(node))),
            *("--state-dir", str(self.root / "edges" / node)),
            *("--reconcile-interval", "1", "--report-interval", "30"),
        )

    def kill_edge(self, node: str) -> None:
        self.procs.kill(node)

    def close(self) -> None:
        self.procs.stop_all()
        if self.edges is not None:
            self.edges.close()
        if self.recorder is not None:
            self.recorder.close()
        for link in [*self.links.values(), *([self.broker_link] if self.broker_link else [])]:
            link.close()
        for sim in self.sims.values():
            sim.stop()
        self.broker.stop()

    def __enter__(self) -> FaultFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- changes ------------------------------------------------------------------------

    @property
    def head(self) -> str:
        return self.repo.head()

    def change(self, message: str = "a new greeting on every node") -> str:
        """Commit and push a change every node's render depends on; its sha."""
        self.greeting += 1
        app = yaml.safe_load((self.repo.work / "apps" / "web" / "app.yaml").read_text())
        app["vars"]["greeting"] = f"greeting {self.greeting}"
        self.repo.write_yaml("apps/web/app.yaml", app)
        return self.repo.commit_and_push(message)

    def set_bulk(self, count: int, *, commit: bool = True) -> str | None:
        """The real edges' app `bulk` holds `count` ConfigMaps (plus the change of `change`
        so every node moves to the new revision)."""
        self.repo.write_yaml(
            "apps/bulk/app.yaml",
            {
                "name": "bulk",
                "version": "1.0.0",
                "selector": "edge=real",
                "namespace": "bulk",
                "vars": {"count": count, "greeting": "bulk"},
            },
        )
        self.repo.write("apps/bulk/templates/bulk.yaml.j2", BULK_TEMPLATE)
        if commit:
            return self.change(f"{count} objects in the app bulk")
        return None

    def bulk_objects(self, node: str) -> list[str]:
        """The names of the app bulk's ConfigMaps in the node's cluster."""
        found = self.sims[node].list("v1", "ConfigMap", "bulk")
        return sorted(n for o in found if (n := o["metadata"]["name"]).startswith("bulk-"))

    def bulk_count(self, node: str) -> int:
        return len(self.bulk_objects(node))

    # --- what the broker and git say ----------------------------------------------------

    def latest(self, channel: str) -> dict[str, bytes | None]:
        assert self.recorder is not None
        topic = self.topics.desired if channel == "desired" else self.topics.reported
        return {node: self.recorder.latest.get(topic(node)) for node in self.names}

    def desired_at(self, revision: str) -> int:
        """How many nodes' Desired documents on the broker are at `revision`."""
        return sum(
            1
            for payload in self.latest("desired").values()
            if payload and json.loads(payload).get("revision") == revision
        )

    def converge(
        self,
        head: str | None = None,
        timeout: float = 90.0,
        offline: Mapping[str, bytes | None] | None = None,
    ) -> float:
        """Wait until every node is Synced at `head` (default HEAD) on the broker and on the
        status branch, with its latest report recorded; the seconds it took. `offline`
        gives the last report of nodes whose edge is down (the broker may hold an older
        one)."""
        head = head or self.head
        started = time.monotonic()
        wait_until(
            lambda: invariants.records_head(self.repo.remote, head, len(self.names)),
            timeout,
            interval=0.2,
            message=f"the status branch never recorded every node Synced at {head[:7]}",
        )
        problems: list[str] = []

        def none_left() -> bool:
            problems[:] = invariants.convergence_problems(
                {**self.latest("reported"), **(offline or {})},
                invariants.status_entries(self.repo.remote),
                head,
                self.latest("desired"),
            )
            return not problems

        try:
            wait_until(none_left, 30, interval=0.5)
        except AssertionError:
            raise AssertionError("not converged:\n  " + "\n  ".join(problems)) from None
        return time.monotonic() - started

    def check(self) -> None:
        """Generations only increased: no live document an edge had to refuse, and no
        refusal left in a real edge's last report (a stale retained copy from a broker
        restored from an older save is refused, then the current one is published again)."""
        assert self.recorder is not None
        problems = invariants.generation_problems(self.recorder.messages, self.topics)
        if self.edges is not None:
            problems += [
                f"{node}: published generation {generation}, not above the accepted one"
                for node, generation, retained in self.edges.refused
                if not retained
            ]
        for node in self.real:
            report = json.loads(self.latest("reported")[node] or b"{}")
            problems += [f"{node}: refused {r}" for r in report.get("rejected", [])]
        assert not problems, "\n  ".join(["generations:", *problems])

    def describe(self) -> dict[str, Any]:
        """Sizes, for the figures."""
        return {"nodes": len(self.names), "real edges": len(self.real)}
