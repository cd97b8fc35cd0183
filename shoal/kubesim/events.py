"""The log of recent writes that watches replay and follow.

`store.py` records every stored write (ADDED, MODIFIED, DELETED) with the object as
stored — never copied, because the store replaces objects instead of changing them —
and reads back the events after a watcher's resourceVersion.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

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
