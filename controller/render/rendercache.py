"""Compiled apps kept across `render_fleet` calls: `RenderCache`.

The controller's reconciler keeps one `RenderCache` for its lifetime and passes it to
every `render_fleet` call (`controller.service.reconciler`, `controller.render.incremental`), so a
commit that leaves an app's folder untouched neither recompiles the app's Jinja
templates (the larger part of re-rendering a few nodes) nor re-renders the contexts
it rendered for an earlier commit. One-shot commands pass no cache.

An entry is keyed by everything a compiled app depends on:
- the `App` as loaded (name, version, namespace, selector, vars, template list);
- the app folder's path, as named and resolved: the sandbox's `file()` is bound to
  that folder, so a compiled app never serves one fleet's (or checkout's) files to
  another;
- the bytes of every file in the folder (templates, `files/`, app.yaml), read once
  per call into a snapshot. The templates compile from that snapshot and `file()`
  reads from it, so what renders is exactly what the key describes — a file changed
  under the same name is a new key, even if it changes in the middle of a call.
A folder holding a symlink, anything but plain files and folders, or more than
`MAX_SNAPSHOT_BYTES` is compiled afresh on every call, as without a cache.

An entry also carries the app's `AppMemo` (context -> outcome, template context ->
text, text -> parsed objects): those depend only on the compiled app and the
context values the templates read, so they stay valid for as long as the entry.

Bounded: at most `max_apps` entries holding at most `max_bytes` of folder contents
(the least recently used go first), and an entry's memo is emptied, before a call
uses it, once it holds more than `max_memo` results. Not thread-safe: one render at
a time (the reconciler holds its lock).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.fleet.model import App, Node
from controller.render.templating import CompiledApp, Snapshot, TemplateFailure, compile_app

MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024  # an app folder larger than this is not cached

_Key = tuple[str, str, str, str]


@dataclass
class AppMemo:
    """One compiled app's render memo (see `controller.render.rendering`); read-only results."""

    by_context: dict[str, Any] = field(default_factory=dict)  # context key -> _Outcome
    texts: dict[tuple[str, str], Any] = field(default_factory=dict)  # (file, key) -> text
    # (file, schema version, text) -> objects
    parsed: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    # id(object) -> (object, canonical JSON); holding the object keeps its id unique
    encoded: dict[int, tuple[Any, bytes]] = field(default_factory=dict)
    # id(object) -> (object, policy problems, sealed-value problems) for shared objects
    checks: dict[int, tuple[Any, list[Any], list[Any]]] = field(default_factory=dict)
    # (file, key with the name's placeholder) -> its parsed text (controller.render.placeholders)
    skeletons: dict[tuple[str, str], Any] = field(default_factory=dict)
    # the same key for the whole app -> per template, its objects or its skeleton
    plans: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return (
            len(self.by_context)
            + len(self.texts)
            + len(self.parsed)
            + len(self.skeletons)
            + len(self.plans)
        )


@dataclass
class CachedApp:
    """A compiled app (None when a template failed) with its failures and memo."""

    compiled: CompiledApp | None
    failures: list[TemplateFailure]
    memo: AppMemo = field(default_factory=AppMemo)
    size: int = 0  # bytes of the folder snapshot the entry holds


class RenderCache:
    """Compiled apps and their render memos, keyed by the app's content."""

    def __init__(
        self, max_apps: int = 256, max_memo: int = 100_000, max_bytes: int = 64 * 1024 * 1024
    ) -> None:
        self.max_apps = max_apps  # compiled apps kept
        self.max_memo = max_memo  # results an app's memo may keep from call to call
        self.max_bytes = max_bytes  # app folder contents kept, all entries together
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[_Key, CachedApp] = OrderedDict()
        self._bytes = 0
        # For `incremental.render_changes`: the last fleet's nodes, their names by tag set.
        self.tag_sets: tuple[Mapping[str, Node], dict[Any, list[str]]] | None = None
        # For `controller.render.sharing`: the object keys of the entries stamps made.
        self.object_keys: dict[int, tuple[Any, list[Any]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def app(self, app: App) -> CachedApp:
        """`app` compiled, from the cache when its folder is unchanged."""
        snapshot = snapshot_folder(app.dir)
        if snapshot is None:
            self.misses += 1
            return CachedApp(*compile_app(app))
        key = _key(app, snapshot)
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            size = sum(len(data) for data in snapshot.values() if data is not None)
            entry = CachedApp(*compile_app(app, snapshot), size=size)
            self._entries[key] = entry
            self._bytes += size
            while len(self._entries) > self.max_apps or self._bytes > self.max_bytes:
                self._bytes -= self._entries.popitem(last=False)[1].size
        else:
            self.hits += 1
            self._entries.move_to_end(key)
            if len(entry.memo) > self.max_memo:
                entry.memo = AppMemo()
        return entry


def snapshot_folder(folder: Path) -> Snapshot | None:
    """Every file under `folder` by its relative POSIX path (`files/x.conf`), and every
    subfolder (`files/`) mapped to None; None when the folder cannot be cached (a
    symlink, a special file, unreadable, too large)."""
    files: Snapshot = {}
    total = 0
    pending = [("", folder)]
    try:
        while pending:
            prefix, current = pending.pop()
            with os.scandir(current) as entries:
                for entry in entries:
                    rel = prefix + entry.name
                    if entry.is_symlink():
                        return None
                    if entry.is_dir(follow_symlinks=False):
                        files[rel + "/"] = None
                        pending.append((rel + "/", Path(entry.path)))
                    elif entry.is_file(follow_symlinks=False):
                        with open(entry.path, "rb") as handle:
                            data = handle.read(MAX_SNAPSHOT_BYTES - total + 1)
                        total += len(data)
                        if total > MAX_SNAPSHOT_BYTES:
                            return None
                        files[rel] = data
                    else:
                        return None  # a fifo or device: reading it could block
    except OSError:
        return None
    return files


def _key(app: App, snapshot: Snapshot) -> _Key:
    content = hashlib.sha256()
    for rel in sorted(snapshot):
        data = snapshot[rel]
        if data is None:
            content.update(b"%s\0\0" % rel.encode("utf-8", "surrogateescape"))
            continue
        content.update(b"%s\0%d\0" % (rel.encode("utf-8", "surrogateescape"), len(data)))
        content.update(data)
    return (str(app.dir), str(app.dir.resolve()), repr(app), content.hexdigest())
