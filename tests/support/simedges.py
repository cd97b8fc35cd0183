"""Many simulated edges over a few MQTT connections, for fleets too big for real agents.

Used by `bench.status_fleet` and the fault suite (tests/faults). Each simulated node
subscribes to its desired topic and judges every document as a real edge does
(`edge.acceptance`: the accepted document again is a duplicate, a generation not above
the accepted one is refused), then answers an accepted one with a retained Reported
document, Synced at that revision. No Kubernetes: this exercises the controller and
the broker, not apply. After a reconnect every node publishes its last report again,
as the real agent's reporter does (a broker restarted from an old save may have lost
it).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from shadow import AppStatus, NodeInfo, ReportedDocument, Topics
from transport import BrokerOptions, make_client


class SimulatedEdges:
    """`names` edge identities over `connections` MQTT connections, answering with Synced."""

    def __init__(
        self,
        url: str,
        names: list[str],
        connections: int,
        prefix: str = "shoal",
        judge: Callable[[str, dict[str, Any]], dict[str, AppStatus]] | None = None,
    ) -> None:
        self.topics = Topics(prefix)
        # (node, desired document) -> each app's status; default: every app Ready, Synced.
        self.judge = judge
        self.options = BrokerOptions.from_url(url)
        self.synced_at: dict[str, dict[str, float]] = {}  # revision -> node -> time
        # revision -> node -> when its Desired document arrived (time.monotonic(), like
        # synced_at: the bench splits push -> Synced into arrival and the edge's answer)
        self.received_at: dict[str, dict[str, float]] = {}
        # node -> (generation, digest) of the document it accepted last
        self.accepted: dict[str, tuple[int, str]] = {}
        # node -> every generation it accepted, in order
        self.accepted_log: dict[str, list[int]] = {}
        # (node, generation, retained): documents a real edge would have refused. A
        # retained one may be the broker's older save; a live one is the controller's bug.
        self.refused: list[tuple[str, int, bool]] = []
        self._reports: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.clients: list[Any] = []
        size = -(-len(names) // connections)
        for c in range(connections):
            group = names[c * size : (c + 1) * size]
            if group:
                self.clients.append(self._connect(c, group))

    def _connect(self, index: int, names: list[str]) -> Any:
        client = make_client(self.options, f"sim-edges-{index}-{os.getpid()}-{id(self)}")
        subscribed = threading.Event()
        connects = [0]

        def on_connect(c: Any, u: Any, f: Any, rc: Any, p: Any) -> None:
            connects[0] += 1
            c.subscribe([(self.topics.desired(n), 1) for n in names])
            if connects[0] > 1:
                with self._lock:
                    again = [(n, self._reports[n]) for n in names if n in self._reports]
                for node, payload in again:
                    c.publish(self.topics.reported(node), payload, qos=1, retain=True)

        client.on_connect = on_connect
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_message = self._on_desired
        client.connect(self.options.host, self.options.port)
        client.loop_start()
        if not subscribed.wait(30):
            raise TimeoutError("simulated edges did not get SUBACK")
        return client

    def _on_desired(self, client: Any, userdata: Any, msg: Any) -> None:
        if not msg.payload:
            return
        arrived = time.monotonic()
        desired = json.loads(msg.payload)
        node, generation, digest = desired["node"], desired["generation"], desired["digest"]
        with self._lock:
            previous = self.accepted.get(node)
            if previous == (generation, digest):
                return  # the accepted document again (retained, after a reconnect)
            if previous is not None and generation <= previous[0]:
                self.refused.append((node, generation, bool(msg.retain)))
                return
            self.accepted[node] = (generation, digest)
            self.accepted_log.setdefault(node, []).append(generation)
            self.received_at.setdefault(desired["revision"], {})[node] = arrived
        apps = (
            self.judge(node, desired)
            if self.judge is not None
            else {name: AppStatus("Ready") for name in desired["apps"]}
        )
        report = ReportedDocument(
            node=node,
            observed_generation=generation,
            observed_digest=digest,
            revision=desired["revision"],
            state="Failed" if any(a.state == "Failed" for a in apps.values()) else "Synced",
            apps=apps,
            node_info=NodeInfo(hostname=node, agent="simulated"),
        )
        payload = report.to_json()
        with self._lock:
            self._reports[node] = payload
        client.publish(self.topics.reported(node), payload, qos=1, retain=True)
        with self._lock:
            self.synced_at.setdefault(desired["revision"], {})[node] = time.monotonic()

    def synced(self, revision: str) -> dict[str, float]:
        """node -> when it reported Synced at `revision`."""
        with self._lock:
            return dict(self.synced_at.get(revision, {}))

    def received(self, revision: str) -> dict[str, float]:
        """node -> when its Desired document for `revision` arrived (and was accepted)."""
        with self._lock:
            return dict(self.received_at.get(revision, {}))

    def close(self) -> None:
        for client in self.clients:
            client.disconnect()
            client.loop_stop()

    def __enter__(self) -> SimulatedEdges:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
