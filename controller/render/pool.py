"""Rendering a large fleet on two cores: half of the nodes in a forked worker process.

`rendering.render_fleet(..., workers=2)` calls `render_split(render, names)` when
`worth_splitting` says so: at least `MIN_NODES` nodes, two usable cores, a memoized
render, and a process running one thread only — `shoal validate --workers 2` and the
benchmarks. It is not the default: on a 2-core machine shared with other work the two
halves mostly take turns, and the process holds the worker's half unpickled beside
its own memo (see docs/controller.md, "Tested scale"). The controller runs threads (MQTT, HTTP, the status writer) and keeps
rendering in its own process: a fork copies locks other threads may hold.

The worker is forked once the templates are compiled, so it renders the second half
of the nodes with the same compiled apps, memo and render budget as the process,
which renders the first half meanwhile. It sends its part back pickled (an object
its nodes share is sent once) and exits; what it added to the memo is not kept.
Nothing depends on the worker: if it dies or cannot send its part, the process
renders that half itself. Ctrl-C, or the caller cancelling the render, stops both.
The parts are joined as one process would have rendered them: an app that crossed
the render budget in the first half is one problem there and is left out of the
second half (`join`). Either way the nodes render with the cycle collector paused
(`collector_paused`).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from controller.fleet.problems import Problem
from shadow import DesiredApp

MIN_NODES = 2_000  # below this, forking and pickling cost more than they save


@dataclass
class RenderPart:
    """What rendering some of the nodes gave, and the renderer's counts for them."""

    apps: dict[str, dict[str, DesiredApp]]
    problems: list[Problem]
    renders: int = 0
    reused: int = 0
    template_renders: int = 0
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    over_budget: set[str] = field(default_factory=set)
    broken_apps_used: set[str] = field(default_factory=set)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worth_splitting(nodes: int, memoize: bool, workers: int = 2) -> bool:
    return (
        memoize
        and workers >= 2
        and nodes >= MIN_NODES
        and usable_cores() >= 2
        and threading.active_count() == 1
        and "fork" in multiprocessing.get_all_start_methods()
    )


def render_split(render: Callable[[list[str]], RenderPart], names: list[str]) -> RenderPart:
    """`render(names)`, the second half in a forked worker."""
    half = len(names) // 2
    first, second = names[:half], names[half:]
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=_work, args=(render, second, sender), daemon=True)
    worker.start()
    sender.close()
    try:
        part = render(first)
        other = _receive(receiver)
    finally:
        receiver.close()
        if worker.is_alive():
            worker.kill()
        worker.join()
    if other is None:
        other = render(second)
    return join(part, other)


def _work(render: Callable[[list[str]], RenderPart], names: list[str], sender: Connection) -> None:
    """In the worker: render, send the part pickled (empty bytes: it failed)."""
    try:
        data = pickle.dumps(render(names), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # the process renders this half itself, and says what failed
        data = b""
    try:
        sender.send_bytes(data)
    finally:
        sender.close()


def _receive(receiver: Connection) -> RenderPart | None:
    try:
        data = receiver.recv_bytes()
    except (EOFError, OSError):  # the worker died
        return None
    if not data:
        return None
    part: Any = pickle.loads(data)
    return part if isinstance(part, RenderPart) else None


def join(first: RenderPart, second: RenderPart) -> RenderPart:
    """Both parts as one renderer going through the nodes in order would give them."""
    skipped = first.over_budget  # one process would not have rendered these again
    apps = dict(first.apps)
    for name, node_apps in second.apps.items():
        apps[name] = {a: d for a, d in node_apps.items() if a not in skipped}
    return RenderPart(
        apps,
        first.problems + [p for p in second.problems if p.app not in skipped],
        first.renders + second.renders,
        first.reused + second.reused,
        first.template_renders + second.template_renders,
        {**second.notes, **first.notes},
        first.over_budget | second.over_budget,
        first.broken_apps_used | second.broken_apps_used,
    )


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while rendering.

    A render allocates hundreds of thousands of short-lived, acyclic dicts and lists;
    the collector's repeated passes over the growing memo cost about 15% of the CPU
    time of a 10,000-node render. Reference counting still frees everything acyclic.
    What survives the render (the entries, the memo) lives long: it joins the oldest
    generation at once (`gc.freeze` then `gc.unfreeze`, two list splices) instead of
    the next young collection walking all of it (tens of milliseconds after a
    re-render of 1,000 nodes, whose survivors point into the whole fleet). A cycle
    among them is still freed, by the next full collection.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()
