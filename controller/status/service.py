"""The status writer as a part of the running controller.

`shoal controller` adds a `StatusService` with `controller.add(...)`. The topic
prefix comes from the fleet's `fleet.yaml`, which the controller knows only after its
first good revision, so the service waits for that (in a thread, never blocking the
controller's start) and then starts a `StatusWriter` on the controller's broker.
While it waits, a rejected revision is still committed (controller.yaml alone, see
`controller.status.controllerstate`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from controller.status.branch import StatusBranch
from controller.status.controllerstate import ControllerFacts, EarlyRecord, controller_facts
from controller.status.verification import NodeKeys, rejection_reason
from controller.status.writer import DEFAULT_BRANCH, DEFAULT_INTERVAL, StatusWriter

log = logging.getLogger(__name__)


class StatusService:
    def __init__(
        self,
        controller: Any,
        repo_url: str,
        work_dir: Path,
        *,
        branch: str = DEFAULT_BRANCH,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.controller = controller
        self.repo_url = repo_url
        self.work_dir = Path(work_dir)
        self.branch = branch
        self.interval = interval
        self.writer: StatusWriter | None = None
        self._keys: tuple[Any, NodeKeys] | None = None  # (fleet, its keys), per revision
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._start_writer, name="status-start", daemon=True)
        self._thread.start()

    def _start_writer(self) -> None:
        early = EarlyRecord(self._controller_facts, self._early_branch)
        while not self._stopping.is_set():
            topics = self.controller.topics
            if topics is not None:
                break
            early.step()  # a rejected first revision: on the branch before any report
            self._stopping.wait(0.1)
        with self._lock:
            if self._stopping.is_set():
                return
            writer = StatusWriter(
                self.controller.broker,
                self.repo_url,
                self.work_dir,
                branch=self.branch,
                topic_prefix=topics.prefix,
                interval=self.interval,
                known_nodes=self._fleet_nodes,
                count_error=self._count_error,
                controller_state=self._controller_facts,
                node_keys=self._node_keys,
            )
            writer.start()
            self.writer = writer

    def _controller_facts(self) -> ControllerFacts | None:
        return controller_facts(self.controller)

    def _early_branch(self) -> StatusBranch:
        return StatusBranch(self.repo_url, self.work_dir / "status-branch", self.branch)

    def _count_error(self, kind: str) -> None:
        metrics = getattr(self.controller, "metrics", None)
        if metrics is None:
            return
        reason = rejection_reason(kind)
        if reason is not None:  # a report not signed by its node's key
            metrics.report_rejected(reason)
        else:
            metrics.failed(kind)

    def _node_keys(self) -> NodeKeys | None:
        """The report keys of the controller's last good revision (None: not known yet)."""
        fleet = getattr(getattr(self.controller, "reconciler", None), "fleet", None)
        if fleet is None:
            return None
        cached = self._keys
        if cached is None or cached[0] is not fleet:
            keys = {name: node.report_key for name, node in fleet.nodes.items() if node.report_key}
            cached = self._keys = (fleet, NodeKeys(keys, fleet.require_signed_reports))
        return cached[1]

    def _fleet_nodes(self) -> frozenset[str] | None:
        """The nodes of the controller's last good revision (None: not known yet)."""
        reconciler = getattr(self.controller, "reconciler", None)
        return getattr(reconciler, "fleet_nodes", None)

    def health_fields(self) -> dict[str, Any]:
        """What /healthz shows about the status branch: its name and the last git failure
        (`statusError`, null once a push goes through again)."""
        writer = self.writer
        return {
            "statusBranch": self.branch,
            "statusError": writer.last_error if writer is not None else None,
            **(writer.health_fields() if writer is not None else {}),
        }

    def problems(self) -> list[str]:
        """What keeps /healthz from ok: nodes whose latest message was refused, a bug."""
        writer = self.writer
        if writer is None:
            return []
        health = writer.intake.health()
        found = [f"status: node {n}: {why}" for n, why in health["nodesRefused"].items()]  # type: ignore[attr-defined]
        if health["intakeFailure"]:
            found.append(f"status: {health['intakeFailure']}")
        return found

    def stop(self) -> None:
        """Stop the writer, committing and pushing what is pending."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(30)
        with self._lock:
            if self.writer is not None:
                self.writer.stop()
                self.writer = None
