"""The thread that moves rollouts between commits: reports and timers in, documents out.

`controller.service.controller.Controller` starts a `RolloutRunner` with its broker,
a way to know the topic prefix (after the first good revision) and `publish(nodes)`,
which rebuilds and publishes those nodes' documents from the last good revision
(`Reconciler.publish_nodes`). The runner waits for a watched report, a plan, or the
next bake or offline deadline, asks the engine to evaluate, and publishes what the
decision changed. Bursts of reports coalesce: one evaluation per turn, so a wave's
last report is followed by the next wave's documents within milliseconds. For
`/healthz` it gives every rollout's state and, as problems, the halted or rolled back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from controller.rollout.engine import RolloutEngine
from controller.rollout.reports import ReportListener
from shadow import Topics
from transport import BrokerOptions

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0  # look again at least this often (pause, clock)
COALESCE_SECONDS = 0.01
# Final rollout states that leave the app off HEAD until a commit supersedes them.
STUCK = ("Halted", "RolledBack")


class RolloutRunner:
    def __init__(
        self,
        engine: RolloutEngine,
        options: BrokerOptions,
        topics: Callable[[], Topics | None],
        publish: Callable[[set[str]], int],
    ) -> None:
        self.engine = engine
        self.options = options
        self.topics = topics
        self.publish = publish
        self.listener: ReportListener | None = None
        self.evaluations = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollout-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.engine.changed.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.listener is not None:
            self.listener.stop()

    def _run(self) -> None:
        while not self._stopping.is_set():
            topics = self.topics()
            if topics is not None:
                break
            self._stopping.wait(0.1)
        else:
            return
        self.listener = ReportListener(self.engine, self.options, topics)
        self.listener.start()
        while not self._stopping.is_set():
            deadline = self.engine.next_deadline()
            wait = IDLE_SECONDS if deadline is None else max(0.0, deadline - time.time())
            self.engine.changed.wait(min(wait, IDLE_SECONDS))
            if self._stopping.is_set():
                return
            time.sleep(COALESCE_SECONDS)  # let a burst of reports land: one evaluation
            self.engine.changed.clear()
            try:
                self.turn()
            except Exception:  # never let the runner die: log, try again next turn
                log.exception("rollout: unexpected error while evaluating")

    # --- what /healthz shows (Controller.health asks every component) -------------------

    def health_fields(self) -> dict[str, dict[str, dict[str, object]]]:
        return {"rollouts": self.engine.status()}

    def problems(self) -> list[str]:
        """A halted or rolled-back rollout needs a fix in git: the fleet is not on HEAD."""
        return [
            f"rollout of {app} ({str(status.get('revision', ''))[:7]}): {status.get('decision')}"
            for app, status in self.engine.status().items()
            if status.get("state") in STUCK
        ]

    def turn(self) -> int:
        """Evaluate once and publish what changed; returns how many documents went out."""
        self.evaluations += 1
        nodes = self.engine.evaluate()
        if not nodes:
            return 0
        started = time.monotonic()
        sent = self.publish(nodes)
        log.info(
            "rollout: %d documents handed to the broker in %.3fs", sent, time.monotonic() - started
        )
        return sent
