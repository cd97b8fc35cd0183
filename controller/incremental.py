"""Render only what a commit can have changed, reusing the last good revision's render.

The reconciler calls `render_changes(baseline, root, changed)` for a new revision
when it holds the previous good revision's fleet and render (`Baseline`) and git
named the files that changed between the two. When every changed file is a node or
group file — the common edit (tag a node, change a group's vars) — it loads just
`fleet.yaml`, the groups and the changed node files (`load_fleet` on a small copy),
splices them into the previous fleet and re-renders only the affected nodes:

- nodes whose file was added, changed or deleted;
- nodes matched by a changed, added or removed group's old or new selector.

Anything else (fleet.yaml, apps/, files git could not diff) returns None: the caller
loads and renders the whole revision. For a 10,000-node fleet that is the difference
between seconds and tenths of a second per push. tests/controller/test_incremental.py
checks the result equals a full render for each kind of change.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from controller.loading import YAML_SUFFIXES, load_fleet
from controller.model import Fleet, Group, Node
from controller.problems import FleetError, Problem
from controller.rendering import render_fleet
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
    rendered_nodes: int


def _in(folder: str, path: str) -> bool:
    return path.startswith(folder + "/") and path.endswith(YAML_SUFFIXES)


def render_changes(baseline: Baseline, root: Path, changed: Iterable[str]) -> Rendered | None:
    """The revision at `root` rendered from `baseline` plus `changed` files, or None when
    the change is not one this shortcut handles. Raises FleetError like `load_fleet`."""
    changed = sorted(set(changed))
    if not all(_in("nodes", p) or _in("groups", p) for p in changed):
        return None
    changed_nodes = [p for p in changed if _in("nodes", p)]
    partial = _load_partial(root, [p for p in changed_nodes if (root / p).is_file()])

    old = baseline.fleet
    files = set(changed_nodes)
    nodes = {name: node for name, node in old.nodes.items() if node.file not in files}
    problems = []
    for name, node in partial.nodes.items():
        if name in nodes:
            problems.append(
                Problem(
                    node.file,
                    f"duplicate node name {name!r}: also defined in {nodes[name].file}",
                    "name",
                )
            )
        nodes[name] = node
    if problems:
        raise FleetError(problems)

    fleet = replace(
        old,
        root=root,
        nodes=nodes,
        groups=partial.groups,
        apps={
            name: replace(app, dir=root / app.dir.relative_to(old.root))
            for name, app in old.apps.items()
        },
    )
    affected = {n.name for n in old.nodes.values() if n.file in files} | set(partial.nodes)
    affected |= _matched_by_changed_groups(old.groups, partial.groups, nodes)
    targets = sorted(name for name in affected if name in nodes)

    result = render_fleet(fleet, targets)
    apps = {name: node_apps for name, node_apps in baseline.apps.items() if name in nodes}
    apps.update(result.apps)
    return Rendered(fleet, apps, result.problems, result.renders, len(targets))


def _load_partial(root: Path, node_files: list[str]) -> Fleet:
    """`load_fleet` over fleet.yaml, groups/ and only the given node files."""
    with tempfile.TemporaryDirectory(prefix="shoal-partial-") as tmp:
        view = Path(tmp)
        shutil.copy2(root / "fleet.yaml", view / "fleet.yaml")
        if (root / "groups").is_dir():
            shutil.copytree(root / "groups", view / "groups")
        for rel in node_files:
            (view / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, view / rel)
        return load_fleet(view)


def _matched_by_changed_groups(
    old: Mapping[str, Group], new: Mapping[str, Group], nodes: Mapping[str, Node]
) -> set[str]:
    selectors = []
    for name in set(old) | set(new):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        selectors += [g.selector for g in (before, after) if g is not None]
    if not selectors:
        return set()
    return {name for name, node in nodes.items() if any(s.matches(node.tags) for s in selectors)}
