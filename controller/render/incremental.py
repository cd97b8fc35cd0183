"""Render only what a commit can have changed, reusing the last good revision's render.

The reconciler calls `render_changes(baseline, root, changed)` for a new revision
when it holds the previous good revision's fleet and render (`Baseline`) and git
named the files that changed between the two. When every changed file is a node or
group file or lies in an app's folder (`apps/<app>/...`) — the common edits: tag a
node, change a group's vars, change an app's template — it loads just `fleet.yaml`,
the changed node and group files and the changed apps' whole folders (`load_fleet`
on a small copy), splices them into the previous fleet (checking names stay unique)
and re-renders only the affected nodes:

- nodes whose file was added, changed or deleted;
- nodes matched by a changed, added or removed group's old or new selector;
- nodes matched by a changed app's old or new selector.

Of those, a node whose own file did not change keeps the entry of every app whose
folder did not change and whose templates read none of the variables the changed
groups define, before or after (`Carried`): only what can differ renders again.

Anything else (fleet.yaml, a file outside nodes/, groups/ and apps/<app>/, a symbolic
link among the files) returns None: the caller loads and renders the whole revision,
as it does when git cannot name the changed files. For a 10,000-node fleet that is the
difference between seconds and tenths of a second per push.
tests/controller/test_incremental.py checks the result equals a full render for each
kind of change.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from controller.fleet.loading import YAML_SUFFIXES, load_fleet
from controller.fleet.model import Fleet, Group, Node
from controller.fleet.problems import FleetError, Problem
from controller.fleet.selectors import Selector, SelectorIndex
from controller.render import pool
from controller.render.budget import RenderBudget
from controller.render.carried import Carried
from controller.render.rendercache import RenderCache
from controller.render.rendering import render_fleet
from shadow import DesiredApp

RenderedApps = dict[str, dict[str, DesiredApp]]


@dataclass(frozen=True)
class Baseline:
    """The last good revision: its fleet model and every node's rendered apps."""

    revision: str
    fleet: Fleet
    apps: RenderedApps


@dataclass(frozen=True)
class Rendered:
    """A revision's fleet and every node's apps (re-rendered or carried over)."""

    fleet: Fleet
    apps: RenderedApps
    problems: list[Problem]
    renders: int
    rendered: set[str] | None  # nodes rendered this time; None: every node

    @property
    def rendered_nodes(self) -> int:
        return len(self.apps) if self.rendered is None else len(self.rendered)


def _in(folder: str, path: str) -> bool:
    return path.startswith(folder + "/") and path.endswith(YAML_SUFFIXES)


def _app_of(path: str) -> str | None:
    """`web` for any file under `apps/web/`; None for anything else."""
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "apps" else None


def _has_links(root: Path, paths: Iterable[str], app_dirs: Iterable[str]) -> bool:
    real_root = root.resolve()
    for rel in paths:
        if (root / rel).is_symlink() or not (root / rel).resolve().is_relative_to(real_root):
            return True
    for rel in app_dirs:
        for folder, dirs, files in os.walk(root / rel):
            if any(Path(folder, name).is_symlink() for name in (*dirs, *files)):
                return True
    return False


def render_changes(
    baseline: Baseline,
    root: Path,
    changed: Iterable[str],
    *,
    cache: RenderCache | None = None,
    budget: RenderBudget | None = None,
) -> Rendered | None:
    """The revision at `root` rendered from `baseline` plus `changed` files, or None when
    the change is not one this shortcut handles. Raises FleetError like `load_fleet`.
    `cache` and `budget` are passed on to `render_fleet`."""
    # Like `render_fleet`: the collector's passes over the baseline cost more than they free.
    with pool.collector_paused():
        return _render_changes(baseline, root, changed, cache, budget)


def _render_changes(
    baseline: Baseline,
    root: Path,
    changed: Iterable[str],
    cache: RenderCache | None,
    budget: RenderBudget | None,
) -> Rendered | None:
    changed = sorted(set(changed))
    entries = [p for p in changed if _in("nodes", p) or _in("groups", p)]
    app_names = {name for p in changed if (name := _app_of(p)) is not None}
    if len(entries) + sum(1 for p in changed if _app_of(p)) != len(changed):
        return None  # fleet.yaml, or a file outside nodes/, groups/ and app folders
    app_dirs = [f"apps/{name}" for name in sorted(app_names) if (root / "apps" / name).is_dir()]
    if _has_links(root, changed, app_dirs):
        return None  # links: the full loader decides whether they are allowed
    with tempfile.TemporaryDirectory(prefix="shoal-partial-") as tmp:
        view = Path(tmp)
        partial = _load_partial(root, view, [p for p in entries if (root / p).is_file()], app_dirs)

    old = baseline.fleet
    files = set(changed)
    problems: list[Problem] = []
    nodes = _splice(old.nodes, partial.nodes, files, "node", problems)
    groups = _splice(old.groups, partial.groups, files, "group", problems)
    if problems:
        raise FleetError(problems)
    fleet_apps = {
        name: replace(app, dir=root / app.dir.relative_to(old.root))
        for name, app in old.apps.items()
        if name not in app_names
    }
    fleet_apps |= {
        name: replace(app, dir=root / app.dir.relative_to(view))
        for name, app in partial.apps.items()
    }

    fleet = replace(old, root=root, nodes=nodes, groups=groups, apps=fleet_apps)
    affected = {n.name for n in old.nodes.values() if n.file in files} | set(partial.nodes)
    selectors = _changed_selectors(old.groups, groups)
    selectors |= {
        a.selector for a in (*partial.apps.values(), *old.apps.values()) if a.name in app_names
    }
    changed_nodes = {n.name for n in old.nodes.values() if n.file in files} | set(partial.nodes)
    affected |= _matched(selectors, _by_tags(old.nodes, nodes, changed_nodes, cache))
    targets = sorted(name for name in affected if name in nodes)

    carried = _carried(baseline, fleet, app_names, _changed_vars(old.groups, groups), cache)
    if carried is not None:
        carried = replace(carried, nodes=frozenset(n for n in nodes if n not in changed_nodes))
    result = render_fleet(fleet, targets, cache=cache, budget=budget, carried=carried)
    apps = {name: node_apps for name, node_apps in baseline.apps.items() if name in nodes}
    apps.update(result.apps)
    return Rendered(fleet, apps, result.problems, result.renders, set(targets))


T = TypeVar("T", Node, Group)


def _splice(
    old: Mapping[str, T],
    loaded: Mapping[str, T],
    files: set[str],
    kind: str,
    problems: list[Problem],
) -> dict[str, T]:
    """The previous items minus those from changed files, plus the items loaded from them."""
    items = {name: item for name, item in old.items() if item.file not in files}
    for name, item in loaded.items():
        if name in items:
            message = f"duplicate {kind} name {name!r}: also defined in {items[name].file}"
            problems.append(Problem(item.file, message, "name"))
        items[name] = item
    return items


def _load_partial(root: Path, view: Path, files: list[str], app_dirs: list[str]) -> Fleet:
    """`load_fleet` over a copy of fleet.yaml, the given files and the given app folders."""
    shutil.copyfile(root / "fleet.yaml", view / "fleet.yaml")
    for rel in files:
        (view / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, view / rel)
    for rel in app_dirs:
        shutil.copytree(root / rel, view / rel)
    return load_fleet(view)


def _changed_vars(old: Mapping[str, Group], new: Mapping[str, Group]) -> set[str]:
    """The variables (before or after) of every group added, removed or changed."""
    names: set[str] = set()
    for name in set(old) | set(new):
        before, after = old.get(name), new.get(name)
        if before != after:
            for group in (before, after):
                if group is not None:
                    names |= group.vars.keys()
    return names


def _carried(
    baseline: Baseline,
    fleet: Fleet,
    changed_apps: set[str],
    changed_vars: set[str],
    cache: RenderCache | None,
) -> Carried | None:
    """The apps whose entries stand (nodes still to be chosen): an unchanged app
    folder whose templates read none of `changed_vars`. Needs the cache's compiled
    apps (without one, every affected node renders every app)."""
    if cache is None:
        return None
    stable = set()
    for name, app in fleet.apps.items():
        if name in changed_apps:
            continue
        compiled = cache.app(app).compiled
        if compiled is not None and not compiled.names & changed_vars:
            stable.add(name)
    return Carried(baseline.apps, frozenset(stable), frozenset())


def _changed_selectors(old: Mapping[str, Group], new: Mapping[str, Group]) -> set[Selector]:
    """The old and new selectors of every group added, removed or changed."""
    selectors: set[Selector] = set()
    for name in set(old) | set(new):
        before, after = old.get(name), new.get(name)
        if before != after:
            selectors |= {g.selector for g in (before, after) if g is not None}
    return selectors


TagSets = dict[tuple[tuple[str, str], ...], list[str]]


def _by_tags(
    old: Mapping[str, Node],
    nodes: Mapping[str, Node],
    changed: set[str],
    cache: RenderCache | None,
) -> TagSets:
    """The names of `nodes` by tag set (many nodes share one). With a cache, derived
    from the last call's grouping of `old`: only the `changed` nodes move."""
    kept = cache.tag_sets if cache is not None else None
    if kept is not None and kept[0] is old:
        by_tags = kept[1]
        if changed:
            by_tags = {tags: list(names) for tags, names in by_tags.items()}
            for name in changed:
                if name in old:
                    tags = _tags(old[name])
                    by_tags[tags].remove(name)
                    if not by_tags[tags]:
                        del by_tags[tags]
            for name in changed:
                if name in nodes:
                    by_tags.setdefault(_tags(nodes[name]), []).append(name)
    else:
        by_tags = {}
        for name, node in nodes.items():
            by_tags.setdefault(_tags(node), []).append(name)
    if cache is not None:
        cache.tag_sets = (nodes, by_tags)
    return by_tags


def _tags(node: Node) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(node.tags.items()))


def _matched(selectors: set[Selector], by_tags: TagSets) -> set[str]:
    """Nodes any of `selectors` matches (each distinct tag set matched once)."""
    if not selectors:
        return set()
    index = SelectorIndex((s, s) for s in selectors)
    matched: set[str] = set()
    for tags, names in by_tags.items():
        if index.matching(dict(tags)):
            matched.update(names)
    return matched
