"""The rollout engine's ears: Reported and online messages of the nodes in open waves.

`controller.rollout.runner.RolloutRunner` starts a `ReportListener` on the controller's
broker once the topic prefix is known. It subscribes `<prefix>/nodes/+/reported` and
`.../online` (the retained ones arrive at once, so a restarted controller sees the
states its waves reached), and hands the engine only what it asked for: a report is
decoded (within `shadow.limits.REPORTED_LIMITS`, `engine.read_report`) only when its
node is in an open wave, so a fleet's heartbeats cost a topic split each. A payload that does not decode
is skipped here: the status writer is the part that records and counts those. A node
whose file records a `reportKey` counts only with a report signed by that key, as the
status intake verifies it (docs/security.md). It runs with or without the status
branch (`--no-status`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from controller.rollout.engine import RolloutEngine
from controller.rollout.observed import read_report
from shadow import Topics
from transport import BrokerOptions, make_client

log = logging.getLogger(__name__)


class ReportListener:
    def __init__(self, engine: RolloutEngine, options: BrokerOptions, topics: Topics) -> None:
        self.engine = engine
        self.options = options
        self.topics = topics
        self.received = 0  # messages seen (for the benchmark)
        self._client: Any = None

    def start(self) -> None:
        client = make_client(self.options, f"shoal-rollout-{uuid.uuid4().hex[:8]}")
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.connect_async(self.options.host, self.options.port, self.options.keepalive)
        client.loop_start()
        self._client = client

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("rollout: broker %s refused the connection: %s", self.options.url, reason)
            return
        client.subscribe(
            [(self.topics.all_nodes("reported"), 1), (self.topics.all_nodes("online"), 1)]
        )

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            self.take(message.topic, bytes(message.payload))
        except Exception:  # never out of paho's thread
            log.exception("rollout: unexpected error taking the message on %s", message.topic)

    def take(self, topic: str, payload: bytes) -> None:
        self.received += 1
        parsed = self.topics.parse(topic)
        if parsed is None or not payload:
            return
        node, channel = parsed
        if channel == "online":
            if len(payload) <= 16:
                self.engine.online(node, payload.strip().lower() in (b"true", b"1", b"online"))
            return
        if channel != "reported" or not self.engine.wants(node):
            return
        allowed, key = self.engine.report_key(node)
        if not allowed:
            return
        seen = read_report(node, payload, key)
        if seen is not None:
            self.engine.observe(node, seen)
