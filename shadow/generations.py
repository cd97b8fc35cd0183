"""Generations: a per-node number that strictly increases, across controller restarts.

A generation is a millisecond timestamp, bumped past the previous one when the
clock has not moved (or moved back). Whoever issues them keeps the last one per
node (the controller reads it back from the broker and its work dir on start).
"""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def next_generation(previous: int | None, now: int | None = None) -> int:
    """The next generation after `previous`: the current time in ms, or previous + 1."""
    current = now_ms() if now is None else now
    if previous is None:
        return current
    return max(current, previous + 1)


def is_newer(candidate: int, accepted: int | None) -> bool:
    """True when an edge should accept `candidate` after having accepted `accepted`."""
    return accepted is None or candidate > accepted
