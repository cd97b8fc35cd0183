"""Reported documents: composing them, and publishing them at the right moments.

The agent (edge/agent.py) builds a report with `build_report` after everything it
does and hands it to the `Reporter`, which publishes it when something meaningful
changed (state, apps, rejections, observed generation) or when the report interval
is due, as a heartbeat. While the broker is away only the latest report is kept;
it goes out as soon as the link is back (`reconnected`). `encode` turns a report into
its payload: signed with the node key (shadow/reportsigning.py) when the agent has one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edge.health import node_state
from shadow import AgentUpdate, AppStatus, DesiredDocument, NodeInfo, Rejection, ReportedDocument

log = logging.getLogger(__name__)


def build_report(
    node: str,
    document: DesiredDocument | None,
    apps: Mapping[str, AppStatus],
    *,
    failure: str = "",
    leftovers: Sequence[str] = (),
    node_info: NodeInfo | None = None,
    rejected: Sequence[Rejection] = (),
    agent_update: AgentUpdate | None = None,
) -> ReportedDocument:
    """The Reported document for what the reconciler observed."""
    if document is None:
        state, message = "Progressing", failure or "waiting for the first desired document"
        if failure:
            state = "Failed"
    else:
        state, message = node_state(apps, failure)
    if leftovers:
        note = f"removed apps not yet deleted: {', '.join(leftovers)}"
        message = f"{message}; {note}" if message else note
    return ReportedDocument(
        node=node,
        observed_generation=document.generation if document else None,
        observed_digest=document.digest if document else "",
        revision=document.revision if document else "",
        state=state,  # type: ignore[arg-type]
        apps=dict(apps),
        node_info=node_info or NodeInfo(),
        message=message,
        rejected=tuple(rejected),
        agent_update=agent_update,
    )


class Reporter:
    """Publishes on change or heartbeat; offline, only the newest report waits.

    At most one report is in flight: the next one is handed to the broker only once
    the previous was acknowledged. After a reconnect paho re-sends an unacknowledged
    report by itself, after our connect callback ran; were a newer report already
    sent, the stale one would land last and stay retained. Used from the agent's
    worker thread only (the link's callbacks reach it through the agent's queue).
    """

    def __init__(
        self,
        publish: Callable[[bytes], int | None],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        encode: Callable[[ReportedDocument], bytes] = ReportedDocument.to_json,
    ) -> None:
        self._publish = publish
        self._encode = encode
        self.interval = interval
        self._clock = clock
        self._pending: ReportedDocument | None = None
        self._sent: ReportedDocument | None = None
        self._in_flight: int | None = None
        self._last: dict[str, Any] | None = None
        self._next_heartbeat = clock()
        self.published = 0

    def submit(self, report: ReportedDocument) -> None:
        meaningful = report.meaningful()
        changed = meaningful != self._last
        if not changed and self._clock() < self._next_heartbeat:
            return
        if changed:
            log.info(
                "state %s (generation %s)%s",
                report.state,
                report.observed_generation,
                f": {report.message}" if report.message else "",
            )
        self._last = meaningful
        self._pending = report  # replaces any older report still waiting
        # Offline, the heartbeat still moves on: the waiting report goes out on connect.
        self._next_heartbeat = self._clock() + self.interval
        self._flush()

    def reconnected(self) -> None:
        """The broker is back: send the waiting report, or repeat the last one (a broker
        without persistence may have lost it) unless paho is re-sending it anyway."""
        if self._in_flight is None:
            self._pending = self._pending or self._sent
        self._flush()

    def acknowledged(self, mid: int) -> None:
        """The broker has the report published as `mid`: the next one may go."""
        if mid == self._in_flight:
            self._in_flight = None
            self._flush()

    def _flush(self) -> None:
        if self._pending is None or self._in_flight is not None:
            return
        mid = self._publish(self._encode(self._pending))
        if mid is not None:
            self._in_flight = mid
            self._sent, self._pending = self._pending, None
            self.published += 1

    def seconds_to_heartbeat(self) -> float:
        return max(0.0, self._next_heartbeat - self._clock())

    @property
    def pending(self) -> ReportedDocument | None:
        """The report waiting for the broker, if any."""
        return self._pending
