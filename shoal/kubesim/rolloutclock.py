"""Workload rollouts on a clock: how long since each spec change, and which are held.

A part of `store.Store`. A write that changes a workload's spec starts its clock
(`_start_rollout`); reads and watches settle its status (`_settle`): progressing
until `rollout_seconds` have passed, then complete, or stalled past its
progressDeadlineSeconds while held (`KubeSim.hold`, as if its pods failed). The
statuses themselves are computed by `rollout.py`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shoal.kubesim import rollout
from shoal.kubesim.events import Key


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class RolloutClock:
    """The rollout side of `store.Store`; its state is set by `Store.__init__`."""

    rollout_seconds: float
    _lock: threading.RLock
    _objects: dict[Key, dict[str, Any]]
    _spec_changed: dict[Key, tuple[float, datetime]]  # monotonic, wall clock
    _held: set[tuple[str, str]]
    _rolling: set[Key]  # workloads whose rollout is not complete yet

    if TYPE_CHECKING:  # the store's steps a settled status is written with

        def _next_revision(self) -> str: ...
        def _record(self, event_type: str, key: Key, obj: dict[str, Any]) -> None: ...

    def hold(self, namespace: str, name: str, held: bool) -> None:
        """Hold (or release) the rollout of workloads named `namespace/name`; holding one
        that is already complete takes it back to in progress, as if its pods failed."""
        with self._lock:
            if held:
                self._held.add((namespace, name))
                for key, obj in self._objects.items():
                    if key[2:] == (namespace, name) and rollout.has_rollout(
                        obj["apiVersion"], obj["kind"]
                    ):
                        self._rolling.add(key)
            else:
                self._held.discard((namespace, name))

    def _start_rollout(self, key: Key, obj: dict[str, Any]) -> None:
        """A spec change: the workload's rollout clock starts again."""
        self._spec_changed[key] = (time.monotonic(), datetime.now(UTC))
        if rollout.has_rollout(obj["apiVersion"], obj["kind"]):
            self._rolling.add(key)
            self._settle(key, obj, write=False)

    def _settle(self, key: Key, obj: dict[str, Any], write: bool = True) -> dict[str, Any]:
        """Bring a workload's status up to date with its rollout clock.

        With `write`, a changed status is stored as its own write (new
        resourceVersion, a MODIFIED event), like a controller's status update.
        """
        if key not in self._rolling:
            return obj
        started, started_wall = self._spec_changed[key]
        held = (key[2], key[3]) in self._held
        elapsed = time.monotonic() - started
        ready = not held and elapsed >= self.rollout_seconds
        deadline = rollout.progress_deadline(obj)
        stalled = not ready and deadline is not None and elapsed >= deadline
        when = started_wall
        if ready:
            when += timedelta(seconds=self.rollout_seconds)
        elif stalled and deadline is not None:
            when += timedelta(seconds=deadline)
        status = rollout.status_for(obj, ready, timestamp(when), stalled)
        if ready:
            self._rolling.discard(key)
        if status is None or obj.get("status") == status:
            return obj
        if not write:  # an object being written, not shared yet
            obj["status"] = status
            return obj
        # Stored objects are never changed in place: the event log shares them.
        metadata = {**obj["metadata"], "resourceVersion": self._next_revision()}
        obj = {**obj, "metadata": metadata, "status": status}
        self._objects[key] = obj
        self._record("MODIFIED", key, obj)
        return obj

    def _settle_due(self) -> None:
        for key in list(self._rolling):
            obj = self._objects.get(key)
            if obj is None:
                self._rolling.discard(key)
            else:
                self._settle(key, obj)
