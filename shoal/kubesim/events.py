"""Watches: the log of recent writes, and the streams that replay and follow it.

`store.py` records every stored write (ADDED, MODIFIED, DELETED) with the object as
stored — never copied, because the store replaces objects instead of changing them —
in an `EventLog`. `Watches` (a part of `store.Store`) streams them to a watch request
of `server.py`: the initial ADDED events or a replay from a resourceVersion, then
every matching write, with idle pulses so the server notices a client that left.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

from shoal.kubesim import errors
from shoal.kubesim.catalog import Kind
from shoal.kubesim.clone import clone
from shoal.kubesim.errors import ApiError
from shoal.kubesim.selectors import parse_field_selector, parse_label_selector

Key = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name


class Event(NamedTuple):
    """One stored write, as a watch reports it."""

    revision: int
    type: str  # ADDED, MODIFIED, DELETED
    key: Key
    object: dict[str, Any]


# Writes kept for watches that resume from a resourceVersion; older ones get 410 Gone.
EVENT_LOG_SIZE = 10_000


class EventLog:
    """The last `size` writes, oldest first. Not thread-safe: the store's lock guards it."""

    def __init__(self, size: int = EVENT_LOG_SIZE) -> None:
        self._events: deque[Event] = deque(maxlen=size)
        self.evicted_through = 0  # the newest resourceVersion no longer kept

    def record(self, event_type: str, key: Key, obj: dict[str, Any]) -> None:
        if len(self._events) == self._events.maxlen:
            self.evicted_through = self._events[0].revision
        self._events.append(Event(int(obj["metadata"]["resourceVersion"]), event_type, key, obj))

    def after(self, revision: int) -> list[Event]:
        """The events newer than `revision`, oldest first."""
        newer: list[Event] = []
        for event in reversed(self._events):
            if event.revision <= revision:
                break
            newer.append(event)
        newer.reverse()
        return newer


# How often an idle watch checks that its client is still there, in seconds.
IDLE_PULSE = 1.0


class Watches:
    """The watch side of `store.Store`: streams of its writes, as the real server sends them."""

    # The store's state that a watch reads (set by `Store.__init__`), under `_lock`.
    _lock: threading.RLock
    _changed: threading.Condition  # notified on every write
    _closed: bool
    _events: EventLog
    _objects: dict[Key, dict[str, Any]]
    _revision: int

    if TYPE_CHECKING:  # the store's steps a watch runs, implemented by the other parts

        def _locked(self) -> AbstractContextManager[None]: ...
        def _settle_due(self) -> None: ...
        def _finish_terminations(self) -> None: ...

    def watch(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        since: str | None,
        seconds: float,
        initial_events_end: bool = False,
    ) -> Iterator[dict[str, Any] | None]:
        """Watch events for matching objects, as the real server streams them.

        It yields None now and then while idle, so the caller can check its client.

        Without `since` (or with "0") it starts with an ADDED event per existing
        object; with a resourceVersion it replays the writes after it, or answers
        one ERROR event (410 Gone) when those are no longer kept. It ends after
        `seconds` or when the store closes. The lock is not held while the
        caller consumes an event.
        """
        labels_match = parse_label_selector(label_selector or "")  # a bad one is a 400 now,
        fields_match = parse_field_selector(field_selector or "")  # not in the stream
        if since not in (None, "", "0") and not str(since).isdigit():
            raise errors.bad_request(f'invalid resourceVersion "{since}"')
        return self._events_for(
            kind, namespace, labels_match, fields_match, since, seconds, initial_events_end
        )

    def _events_for(
        self,
        kind: Kind,
        namespace: str | None,
        labels_match: Callable[[Mapping[str, str]], bool],
        fields_match: Callable[[dict[str, Any]], bool],
        since: str | None,
        seconds: float,
        initial_events_end: bool,
    ) -> Iterator[dict[str, Any] | None]:
        def matches(event: Event) -> bool:
            group, plural, ns, _ = event.key
            return (
                (group, plural) == (kind.group, kind.plural)
                and (not kind.namespaced or not namespace or ns == namespace)
                and labels_match(event.object["metadata"].get("labels") or {})
                and fields_match(event.object)
            )

        deadline = time.monotonic() + seconds
        idle_since = 0.0
        with self._locked():
            if since in (None, "", "0"):
                self._settle_due()
                initial = [
                    clone(obj)
                    for key, obj in sorted(self._objects.items())
                    if matches(Event(0, "", key, obj))
                ]
                cursor = self._revision
            else:
                cursor = int(str(since))
                initial = []
                if cursor < self._events.evicted_through:
                    gone = ApiError(
                        410,
                        "Expired",
                        f"too old resource version: {cursor} ({self._events.evicted_through + 1})",
                    )
                    yield {"type": "ERROR", "object": gone.status()}
                    return
        for obj in initial:
            yield {"type": "ADDED", "object": obj}
        if initial_events_end:
            yield {
                "type": "BOOKMARK",
                "object": {
                    "kind": kind.kind,
                    "apiVersion": kind.api_version,
                    "metadata": {
                        "resourceVersion": str(cursor),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                },
            }
        while not self._closed:
            with self._lock:
                self._finish_terminations()
                self._settle_due()
                batch = [event for event in self._events.after(cursor) if matches(event)]
                cursor = self._revision
                if not batch:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    # Wake up now and then: rollouts finish on a clock, not on a write.
                    self._changed.wait(timeout=min(remaining, 0.05))
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since < IDLE_PULSE:
                        continue
            if not batch:
                idle_since = 0.0
                yield None  # a pulse: lets the server notice a client that went away
                continue
            idle_since = 0.0
            for event in batch:
                yield {"type": event.type, "object": event.object}  # shared: read, never change

    def close(self) -> None:
        """End every watch (the server is stopping)."""
        with self._lock:
            self._closed = True
            self._changed.notify_all()

    def open(self) -> None:
        """Serve watches again (the server is starting)."""
        with self._lock:
            self._closed = False
