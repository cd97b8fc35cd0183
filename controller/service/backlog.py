"""The Desired documents waiting to be handed to paho: oldest first, at most one per topic.

`controller.service.publisher.Publisher` keeps here every document of a batch beyond
its window (the documents paho holds and has not had acknowledged) and takes from
here, a few at a time, as PUBACKs make room. A document waits as the object it will be
encoded from, not as bytes: 100,000 queued documents cost a tuple and a dict slot
each, not their payloads.

A newer document for a topic whose older one is still waiting replaces it in place:
the older one would be overwritten on the broker a moment later (both are retained on
the same topic), so it is never sent, and the newer one keeps the place in line. Not
thread-safe: the publisher's lock guards it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Backlog(Generic[T]):
    """Per-topic items in arrival order; `add` supersedes a waiting item of the same topic."""

    def __init__(self) -> None:
        self._order: deque[str] = deque()  # exactly the topics in `_waiting`, oldest first
        self._waiting: dict[str, T] = {}
        self.superseded = 0  # waiting items replaced by a newer one (never sent)

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, topic: str, item: T) -> None:
        if topic in self._waiting:
            self.superseded += 1
        else:
            self._order.append(topic)
        self._waiting[topic] = item

    def add_many(self, items: Sequence[tuple[str, T]]) -> None:
        """`add` each of `items` in turn (at C speed when none of their topics waits)."""
        waiting = self._waiting
        batch = dict(items)  # a topic twice in `items`: the later one, at the first's place
        self.superseded += len(items) - len(batch)
        if waiting and not waiting.keys().isdisjoint(batch):
            self.superseded += len(waiting.keys() & batch.keys())
            self._order.extend(topic for topic in batch if topic not in waiting)
        else:
            self._order.extend(batch)
        waiting.update(batch)

    def take(self, count: int) -> list[tuple[str, T]]:
        """Remove and return up to `count` items, oldest first."""
        order, waiting = self._order, self._waiting
        count = min(count, len(order))
        return [(topic, waiting.pop(topic)) for topic in (order.popleft() for _ in range(count))]
