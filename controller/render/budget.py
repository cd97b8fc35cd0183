"""The render budget: how long, and how much memory, one app may take on one node.

`rendering` starts a `RenderBudget` per fleet render with the fleet's `RenderLimits`
(`render:` in fleet.yaml) and calls `begin(app, node)` before each app render; the
sandbox (`controller.render.sandbox`) calls `tick()` on every loop iteration and
every call a template makes, and `allow(size)` before it builds a string or list.
Crossing a limit raises `RenderOverBudget` inside the template (so its file and line
are known); a render the controller no longer wants (it is stopping, or a newer
commit arrived) raises `RenderCancelled`, which is no problem of the template and
goes up to whoever asked for the render.

The time limit is exact within a tick. The memory limit is twofold: a value over
`max_items` is refused before it is built, and the process may not grow by more
than the limit while the app renders (resident memory, read every few hundred
ticks and after each large value). Both hold per process, so rendering in worker
processes later needs no change here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from shadow.errors import BadInput

MIB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Read the resident size after this many ticks, and after a value this large.
_MEMORY_EVERY = 256
_LARGE = MIB


@dataclass(frozen=True)
class RenderLimits:
    """`render:` in fleet.yaml: `timeLimit` seconds and `memoryLimit` MiB per app render."""

    seconds: float = 10.0
    memory_mib: int = 64

    @property
    def max_items(self) -> int:
        """The longest string or list a template may build, and the most it may output:
        a sixteenth of the memory limit (4 Mi characters at the default)."""
        return self.memory_mib * MIB // 16


class RenderOverBudget(BadInput):
    """An app render crossed the time or memory limit; the message says which."""


class RenderCancelled(BaseException):
    """The render is no longer wanted (stopping, or superseded by a newer commit).

    A BaseException so that no `except Exception` meant for template errors keeps it.
    """


def resident_bytes() -> int:
    """This process's resident memory (Linux), or 0 where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class RenderBudget:
    """The budget of the app render under way; `what` says which one (for /healthz)."""

    def __init__(self, limits: RenderLimits, cancelled: Callable[[], bool] | None = None) -> None:
        self.limits = limits
        self.cancelled = cancelled
        self.what = ""
        self.started = 0.0
        self._deadline = float("inf")
        self._memory_ceiling: int | None = None
        self._ticks = 0

    def begin(self, app: str, node: str) -> None:
        """An app render for `node` starts now."""
        self.what = f"app {app} for node {node}"
        self.started = time.monotonic()
        self._deadline = self.started + self.limits.seconds
        self._ticks = 0
        self._memory_ceiling = None  # read on the first check: most renders never need it
        if self.cancelled is not None and self.cancelled():
            raise RenderCancelled(self.what)

    def tick(self) -> None:
        """A loop turned or a call was made: stop if over time, memory, or unwanted."""
        self._ticks += 1
        if time.monotonic() > self._deadline:
            raise RenderOverBudget(
                f"took longer than the render time limit of {self.limits.seconds:g} s "
                "(render.timeLimit in fleet.yaml): a loop too large?"
            )
        if self._ticks % _MEMORY_EVERY == 0:
            self._check_memory()
            if self.cancelled is not None and self.cancelled():
                raise RenderCancelled(self.what)

    def allow(self, size: int, what: str) -> None:
        """Refuse to build `what` of `size` characters or items over the limit."""
        if size > self.limits.max_items:
            raise RenderOverBudget(
                f"{what} of {size:,} characters or items is over the render memory limit "
                f"of {self.limits.max_items:,} ({self.limits.memory_mib} MiB, "
                "render.memoryLimit in fleet.yaml)"
            )
        if size >= _LARGE:
            self._check_memory()

    def _check_memory(self) -> None:
        if self._memory_ceiling is None:  # the first check: growth counts from here
            resident = resident_bytes()
            self._memory_ceiling = resident + self.limits.memory_mib * MIB if resident else 0
            return
        if self._memory_ceiling and resident_bytes() > self._memory_ceiling:
            raise RenderOverBudget(
                f"used more than the render memory limit of {self.limits.memory_mib} MiB "
                "(render.memoryLimit in fleet.yaml)"
            )

    def elapsed(self) -> float:
        return time.monotonic() - self.started if self.started else 0.0
