"""Report intake: what the status writer does with each payload before the status book.

Called by `controller.status.writer` from paho's network thread for every message on
`<prefix>/nodes/+/reported` and `.../online`. Any node that can publish can send
anything, retained, so intake never raises: every payload ends as one of
- taken: a report (decoded within `shadow.limits.REPORTED_LIMITS`) or an online flag;
- refused: over a limit, not a Reported document, naming another node than its
  topic, or not signed by the key git records for the node
  (`controller.status.verification`); counted by reason and kept per node until that
  node sends a good one (a retained poison message is refused again at each restart,
  harmlessly);
- unknown: from a node not in the fleet; counted, never written to the status branch;
- failed: an unexpected error (a bug) — logged with the topic, counted, isolated to
  that message.
`/healthz` shows the counts and the nodes whose latest message was refused.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from controller.status.verification import KIND_PREFIX, ReportVerifier
from shadow import DocumentError, ReportedDocument, Topics
from shadow.documents import parse_json
from shadow.limits import REPORTED_LIMITS
from shadow.reportsigning import ReportSignatureError

log = logging.getLogger(__name__)

# `online` is "true" or "false": anything longer is not a presence flag.
MAX_ONLINE_BYTES = 16

Verdict = Literal["report", "online", "refused", "unknown", "ignored"]


@dataclass(frozen=True)
class Taken:
    """One message's outcome: `report` or `online` set for the taken kinds."""

    verdict: Verdict
    node: str = ""
    report: ReportedDocument | None = None
    online: bool | None = None
    key_id: str | None = None  # the node's key that signed the report (None: unverified)


class Intake:
    """Judges payloads; `counts` by kind, `refused` (node -> reason) while it lasts."""

    def __init__(
        self,
        topics: Topics,
        known_nodes: Callable[[], frozenset[str] | None],
        count: Callable[[str], None] = lambda kind: None,
        verifier: ReportVerifier | None = None,
    ) -> None:
        self.topics = topics
        self.known_nodes = known_nodes  # None: the fleet is not known yet (take everyone)
        self.verifier = verifier or ReportVerifier()
        self.count = count  # the controller's error counter (`Metrics.failed`), by kind
        self.counts: Counter[str] = Counter()
        self.refused: dict[str, str] = {}
        self.unknown: set[str] = set()
        self.last_failure: str | None = None
        self._lock = threading.Lock()

    def take(self, topic: str, payload: bytes) -> Taken:
        """The outcome of one message; never raises."""
        try:
            return self._take(topic, payload)
        except Exception as exc:  # a bug: the writer and every other node go on
            log.exception("status: unexpected error taking the message on %s", topic)
            with self._lock:
                self.counts["failed"] += 1
                self.last_failure = f"{topic}: {type(exc).__name__}: {exc}"
            self.count("status-intake")
            return Taken("ignored")

    def _take(self, topic: str, payload: bytes) -> Taken:
        parsed = self.topics.parse(topic)
        if parsed is None or not payload:
            return Taken("ignored")
        node, channel = parsed
        if channel not in ("reported", "online"):
            return Taken("ignored")
        known = self.known_nodes()
        if known is not None and node not in known:
            with self._lock:
                self.counts["unknown-node"] += 1
                self.count("report-unknown-node")
                if node not in self.unknown:
                    log.warning(
                        "status: %s is from node %r, which is not in the fleet: not recorded",
                        topic,
                        node,
                    )
                self.unknown.add(node)
            return Taken("unknown", node)
        if channel == "online":
            if len(payload) > MAX_ONLINE_BYTES:
                return self._refuse(
                    node, topic, "online-invalid", f"{len(payload)} bytes, not a flag"
                )
            online = payload.strip().lower() in (b"true", b"1", b"online")
            return Taken("online", node, online=online)
        try:
            data = parse_json(payload, REPORTED_LIMITS)
            report = ReportedDocument.from_dict(data)
        except DocumentError as exc:
            return self._refuse(node, topic, "report-invalid", str(exc))
        if report.node != node:
            return self._refuse(
                node,
                topic,
                "report-wrong-node",
                f"the report is for node {report.node!r}, not the topic's {node!r}",
            )
        try:
            key_id = self.verifier.verify(node, data, payload)
        except ReportSignatureError as exc:
            unlogged = self.verifier.should_log(node)
            if unlogged:
                exc = ReportSignatureError(exc.reason, f"{exc} ({unlogged} more refused before)")
            return self._refuse(node, topic, KIND_PREFIX + exc.reason, str(exc), unlogged is None)
        with self._lock:
            self.refused.pop(node, None)
            if self.last_failure and self.last_failure.startswith(f"{topic}:"):
                self.last_failure = None  # that topic is healthy again
        return Taken("report", node, report=report, key_id=key_id)

    def _refuse(self, node: str, topic: str, kind: str, reason: str, quiet: bool = False) -> Taken:
        if not quiet:
            log.warning("status: refused the message on %s: %s", topic, reason[:500])
        with self._lock:
            self.counts[kind] += 1
            self.refused[node] = reason[:500]
        self.count(kind)
        return Taken("refused", node)

    def forget(self, nodes: frozenset[str]) -> None:
        """Nodes that left the fleet (or joined it): start their record afresh."""
        with self._lock:
            for node in nodes:
                self.refused.pop(node, None)
                self.unknown.discard(node)
        self.verifier.forget(nodes)

    def unknown_nodes(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self.unknown)

    def health(self) -> dict[str, object]:
        with self._lock:
            return {
                "reportsRefused": dict(sorted(self.counts.items())),
                "nodesRefused": dict(sorted(self.refused.items())[:20]),
                "unknownNodes": sorted(self.unknown)[:20],
                "intakeFailure": self.last_failure,
            }
