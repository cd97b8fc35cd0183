"""What a change to a fleet repository does to each node: the logic of `shoal diff`.

Two revisions of a fleet repository (git revisions, or the working tree) are each
checked out (`controller.review.checkouts`), loaded and rendered (`controller.render.rendering`).
Each node's apps are compared by digest; every app that changed gets a unified diff
of its rendered objects (`controller.review.objectdiff`). Nodes whose changes are identical
(the same fields of the same objects to the same values) are gathered into one
`ChangeGroup`, so a change that hits 500 nodes is read once.

Called by `controller.commands.diff`; `controller.review.diffreport` turns a `FleetDiff` into
text, markdown or JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from controller.fleet.problems import FleetError, Problem
from controller.render.rendering import load_and_render
from controller.review.checkouts import FleetRepository, Revision
from controller.review.objectdiff import AppDiffs, FieldChange
from shadow import DesiredApp
from shadow.errors import BadInput

Change = Literal["added", "changed", "removed"]
CHANGES: tuple[Change, ...] = ("added", "changed", "removed")


class RenderFailed(BadInput):
    """One or both sides do not load or render. `failures` holds each broken side's problems."""

    def __init__(self, failures: list[tuple[Revision, list[Problem]]]) -> None:
        self.failures = failures
        lines = []
        for side, problems in failures:
            lines.append(f"{side.short} does not load or render:")
            lines.extend(f"  {problem}" for problem in problems)
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class AppChange:
    """One app on one node: added, changed or removed, with the diff of its objects."""

    app: str
    change: Change
    base: DesiredApp | None
    head: DesiredApp | None
    diff: str  # unified diff of the rendered objects
    changes: tuple[FieldChange, ...]  # field by field, independent of context lines

    @property
    def version(self) -> str:
        """`1.4.2`, or `1.4.2 → 1.5.0` when the version changes."""
        before = self.base.version if self.base else None
        after = self.head.version if self.head else None
        if before is None or after is None or before == after:
            return str(after if after is not None else before)
        return f"{before} → {after}"


@dataclass(frozen=True)
class NodeChange:
    """Everything that changes on one node. `change` is about the node itself."""

    node: str
    change: Change
    apps: tuple[AppChange, ...]

    def fingerprint(self) -> tuple[object, ...]:
        """Equal for nodes that change in exactly the same way: the same fields of the
        same objects from the same values to the same values. Context lines of the diff
        text (which may hold the node's own name) do not count."""
        return (self.change, tuple((a.app, a.change, a.changes) for a in self.apps))


@dataclass(frozen=True)
class ChangeGroup:
    """Nodes that change identically: one set of app changes for all of them."""

    nodes: tuple[str, ...]
    change: Change
    apps: tuple[AppChange, ...]  # the first node's; the same changes on every node
    context_from: str | None = None  # the node whose context lines are shown, when they differ


@dataclass(frozen=True)
class FleetDiff:
    """The difference between two renders of a fleet, node by node and grouped."""

    base: Revision
    head: Revision
    base_nodes: int
    head_nodes: int
    nodes: tuple[NodeChange, ...]  # sorted by node name; unchanged nodes are left out
    groups: tuple[ChangeGroup, ...]  # biggest first

    @property
    def changed(self) -> bool:
        return bool(self.nodes)

    @property
    def total_nodes(self) -> int:
        """Nodes on either side."""
        return self.head_nodes + sum(1 for n in self.nodes if n.change == "removed")

    def nodes_with(self, change: Change) -> list[str]:
        return [n.node for n in self.nodes if n.change == change]

    def app_counts(self) -> dict[Change, int]:
        """How many (node, app) pairs are added, changed and removed."""
        counts: dict[Change, int] = {"added": 0, "changed": 0, "removed": 0}
        for node in self.nodes:
            for app in node.apps:
                counts[app.change] += 1
        return counts

    def by_app(self) -> dict[str, dict[Change, int]]:
        """For each app that changes somewhere: on how many nodes it is added/changed/removed."""
        table: dict[str, dict[Change, int]] = {}
        for node in self.nodes:
            for app in node.apps:
                row = table.setdefault(app.app, {"added": 0, "changed": 0, "removed": 0})
                row[app.change] += 1
        return dict(sorted(table.items()))


def compare(
    base: Revision,
    head: Revision,
    base_apps: Mapping[str, Mapping[str, DesiredApp]],
    head_apps: Mapping[str, Mapping[str, DesiredApp]],
    context: int = 3,
) -> FleetDiff:
    """Compare two renders (node -> app -> DesiredApp; every node present, maybe with no apps)."""
    texts = AppDiffs(context)
    changes: list[NodeChange] = []
    for node in sorted(set(base_apps) | set(head_apps)):
        before = base_apps.get(node)
        after = head_apps.get(node)
        apps: list[AppChange] = []
        for name in sorted(set(before or {}) | set(after or {})):
            old = (before or {}).get(name)
            new = (after or {}).get(name)
            if old is not None and new is not None and old.digest == new.digest:
                continue
            change: Change = "added" if old is None else "removed" if new is None else "changed"
            diff, fields = texts.diff(name, old, new), texts.changes(old, new)
            apps.append(AppChange(name, change, old, new, diff, fields))
        node_change: Change = (
            "added" if before is None else "removed" if after is None else "changed"
        )
        if apps or node_change != "changed":
            changes.append(NodeChange(node, node_change, tuple(apps)))
    return FleetDiff(
        base=base,
        head=head,
        base_nodes=len(base_apps),
        head_nodes=len(head_apps),
        nodes=tuple(changes),
        groups=group_changes(changes),
    )


def group_changes(changes: list[NodeChange]) -> tuple[ChangeGroup, ...]:
    """Gather nodes with identical changes; the biggest group first, then by first node."""
    groups: dict[tuple[object, ...], list[NodeChange]] = {}
    for change in changes:
        groups.setdefault(change.fingerprint(), []).append(change)
    ordered = sorted(groups.values(), key=lambda members: (-len(members), members[0].node))
    return tuple(_group(members) for members in ordered)


def _group(members: list[NodeChange]) -> ChangeGroup:
    first = members[0]
    texts = {tuple(a.diff for a in m.apps) for m in members}
    return ChangeGroup(
        nodes=tuple(m.node for m in members),
        change=first.change,
        apps=first.apps,
        context_from=first.node if len(texts) > 1 else None,
    )


# --- the whole operation --------------------------------------------------------------------


def _render(
    repo: FleetRepository, side: Revision, missing_is_empty: bool
) -> dict[str, dict[str, DesiredApp]]:
    with repo.checkout(side) as root:
        if not (root / "fleet.yaml").is_file():
            if missing_is_empty:  # the change that creates the fleet: every node is added
                return {}
            raise FleetError(
                [Problem(file="fleet.yaml", message="not found: not a fleet repository")]
            )
        render = load_and_render(root)
    return {node: dict(render.apps.get(node, {})) for node in render.fleet.nodes}


def diff_revisions(
    repo: FleetRepository, base: Revision, head: Revision, context: int = 3
) -> FleetDiff:
    """Render both sides and compare them. RenderFailed lists every problem of each broken side.

    A BASE without a fleet (the change that creates it) counts as an empty fleet."""
    renders: list[dict[str, dict[str, DesiredApp]]] = []
    failures: list[tuple[Revision, list[Problem]]] = []
    base_tree = repo.tree_id(base)
    same_files = base_tree is not None and base_tree == repo.tree_id(head)
    for side in (base, head):
        if side is head and same_files:
            renders.append(renders[0] if renders else {})  # the same files: render them once
            continue
        try:
            renders.append(_render(repo, side, missing_is_empty=side is base))
        except FleetError as exc:
            failures.append((side, list(exc.problems)))
    if failures:
        raise RenderFailed(failures)
    return compare(base, head, renders[0], renders[1], context)
