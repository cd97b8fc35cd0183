"""Objects two of a node's apps both render, judged once per distinct set of entries.

`rendering` asks `Sharing.problems(result, sources)` for each node it renders
(`manifests.shared_keys` says what is wrong). What decides the verdict is each
entry's objects' keys (API group, kind, namespace, name, `manifests.object_key`), so
nodes whose entries have the same keys share it:
- an entry made by a stamp (`controller.render.stamps`) has its stamp's keys, the
  same list for every node the stamp serves;
- an entry carried over from the last render (`Carried`) has the keys noted for it
  when a stamp made it (`RenderCache.object_keys`), so a re-render reads the objects
  of none of the entries it carries;
- any other entry's objects are read (one entry many nodes share is one source).
The cache's notes are those of the entries of the last full render and the
re-renders since: a re-rendered node's replaced entries are forgotten, a full
render starts afresh (removed nodes' notes go then).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.fleet.model import App
from controller.fleet.problems import Problem
from controller.render.manifests import ObjectKey, object_keys, shared_keys
from shadow import DesiredApp

# id(entry) -> (the entry, its objects' keys); holding the entry keeps its id its own
Notes = dict[int, tuple[DesiredApp, list[ObjectKey]]]


class Sharing:
    """The sharing verdicts of one render; `notes` the cache's (None: no cache)."""

    def __init__(self, apps: Mapping[str, App], notes: Notes | None) -> None:
        self.apps = apps
        self.notes = notes
        # (app names, ids of their keys' sources) -> (the sources, the problems)
        self.verdicts: dict[tuple[Any, ...], tuple[list[Any], list[Problem]]] = {}

    def note(self, entry: DesiredApp, keys: list[ObjectKey]) -> None:
        """`entry`'s objects have `keys` (a stamp made it)."""
        if self.notes is not None:
            self.notes[id(entry)] = (entry, keys)

    def forget(self, entry: DesiredApp | None) -> None:
        """`entry` is replaced by a new render."""
        if self.notes is not None and entry is not None:
            found = self.notes.get(id(entry))
            if found is not None and found[0] is entry:
                del self.notes[id(entry)]

    def source(self, entry: DesiredApp) -> DesiredApp | list[ObjectKey]:
        """What stands for `entry`'s keys: the keys noted for it, or the entry itself."""
        if self.notes is not None:
            found = self.notes.get(id(entry))
            if found is not None and found[0] is entry:
                return found[1]
        return entry

    def problems(self, result: dict[str, DesiredApp], sources: list[Any]) -> list[Problem]:
        """`manifests.shared_objects(apps, result)`, with `sources[i]` standing for the
        keys of the i-th entry (a list of keys, or the entry)."""
        key = (tuple(result), tuple(id(source) for source in sources))
        verdict = self.verdicts.get(key)
        if verdict is None:
            keys = [
                (name, source if isinstance(source, list) else object_keys(source))
                for name, source in zip(result, sources, strict=True)
            ]
            verdict = self.verdicts[key] = (sources, shared_keys(self.apps, keys))
        return verdict[1]
