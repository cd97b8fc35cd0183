"""What a change to a fleet repository does to each node: the logic of `shoal diff`.

Two revisions of a fleet repository (git revisions, or the working tree) are each
materialised into a directory (a private index checked out into a temporary folder:
the user's checkout and index are never touched), loaded and rendered with `controller.rendering`.
Each node's apps are compared by digest; every app that changed gets a unified diff
of its rendered objects as YAML with sorted keys. Nodes whose changes are identical
(same apps, same diff text) are gathered into one `ChangeGroup`, so a change that hits
500 nodes is read once.

Called by `controller.commands.diff`; `controller.diffreport` turns a `FleetDiff` into
text, markdown or JSON.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from controller.problems import FleetError, Problem
from controller.rendering import load_and_render
from shadow import DesiredApp

Change = Literal["added", "changed", "removed"]

# Long lines stay on one line: folding would turn a one-word change into a multi-line one.
_YAML_WIDTH = 1 << 16


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Safe YAML with multi-line strings as `|` blocks: a config file diffs line by line."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


class GitError(Exception):
    """The repository or a revision cannot be read (not a git repository, unknown revision)."""


@dataclass(frozen=True)
class Side:
    """One side of a diff: what the user named it and the commit it resolved to.

    `revision` is None for the working tree (then `commit` is None too)."""

    revision: str | None
    commit: str | None

    @property
    def label(self) -> str:
        return self.revision if self.revision is not None else "working tree"

    @property
    def short(self) -> str:
        """`main (1a2b3c4)`, or `working tree`."""
        if self.commit is None:
            return self.label
        return f"{self.label} ({self.commit[:7]})"


class RenderFailed(Exception):
    """One or both sides do not load or render. `failures` holds each broken side's problems."""

    def __init__(self, failures: list[tuple[Side, list[Problem]]]) -> None:
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
    diff: str

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
        """Equal for nodes that change in exactly the same way."""
        return (self.change, tuple((a.app, a.change, a.diff) for a in self.apps))


@dataclass(frozen=True)
class ChangeGroup:
    """Nodes that change identically: one set of app changes for all of them."""

    nodes: tuple[str, ...]
    change: Change
    apps: tuple[AppChange, ...]


@dataclass(frozen=True)
class FleetDiff:
    """The difference between two renders of a fleet, node by node and grouped."""

    base: Side
    head: Side
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


# --- materialising revisions ----------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed (it is needed to read revisions)") from exc
    if done.returncode != 0:
        raise GitError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout.strip()


@dataclass(frozen=True)
class FleetRepository:
    """A fleet directory inside a git work tree (the fleet may live in a subfolder)."""

    path: Path  # the fleet directory as the user named it
    toplevel: Path
    prefix: str  # the fleet directory relative to the top level, "" or ending in "/"

    @classmethod
    def open(cls, path: Path) -> FleetRepository:
        if not path.is_dir():
            raise GitError(f"{path}: no such directory")
        try:
            toplevel = _git(path, "rev-parse", "--show-toplevel")
            prefix = _git(path, "rev-parse", "--show-prefix")
        except GitError as exc:
            raise GitError(f"{path} is not inside a git repository ({exc})") from exc
        return cls(path, Path(toplevel), prefix)

    def resolve(self, revision: str) -> Side:
        """The commit a revision names, or GitError naming the revision."""
        try:
            commit = _git(
                self.toplevel, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"
            )
        except GitError:
            commit = ""
        if not commit:
            raise GitError(f"unknown revision {revision!r} in {self.toplevel}")
        return Side(revision, commit)

    def is_revision(self, revision: str) -> bool:
        try:
            self.resolve(revision)
        except GitError:
            return False
        return True

    @contextmanager
    def checkout(self, side: Side) -> Iterator[Path]:
        """The fleet directory as it is at `side`, valid inside the `with` block.

        The working tree is used in place; a commit is checked out into a temporary
        directory, removed afterwards."""
        if side.commit is None:
            yield self.path
            return
        with tempfile.TemporaryDirectory(prefix="shoal-diff-") as tmp:
            self._unpack(side.commit, Path(tmp))
            yield Path(tmp) / "tree"

    def _unpack(self, commit: str, target: Path) -> None:
        """Write the fleet's files at `commit` under `target`.

        `git read-tree` into a private index, then `git checkout-index --prefix`: git's
        own C code writes the files (0.13 s for 1,000 files here, about 3x faster than
        extracting `git archive` with tarfile), the user's index and worktree are never
        touched, and unlike `git archive` no `export-ignore` attribute can drop a file."""
        tree = target / "tree"
        env = {**os.environ, "GIT_INDEX_FILE": str(target / "index")}
        for args in (
            ("read-tree", f"{commit}:{self.prefix}"),
            ("checkout-index", "--all", "--force", f"--prefix={tree}/"),
        ):
            done = subprocess.run(
                ["git", *args], cwd=self.toplevel, env=env, capture_output=True, text=True
            )
            if done.returncode != 0:
                where = self.prefix.rstrip("/") or "the repository"
                raise GitError(f"cannot read {where} at {commit[:12]}: {done.stderr.strip()}")
        tree.mkdir(exist_ok=True)  # an empty tree writes nothing


# --- comparing renders ----------------------------------------------------------------------


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class _AppText:
    lines: list[str]
    objects: list[tuple[int, str]]  # (1-based line where an object starts, "Kind name")

    def object_at(self, line: int) -> str:
        """The object a line belongs to (for hunk headers, like git's function context)."""
        found = ""
        for start, label in self.objects:
            if start > line:
                break
            found = label
        return found


class _AppTexts:
    """YAML text and diffs of rendered apps, computed once per distinct digest.

    Many nodes share a render (memoization upstream), so many (base, head) pairs repeat."""

    def __init__(self, context: int) -> None:
        self.context = context
        self._texts: dict[str, _AppText] = {}
        self._diffs: dict[tuple[str, str | None, str | None], str] = {}

    def text(self, app: DesiredApp) -> _AppText:
        text = self._texts.get(app.digest)
        if text is None:
            lines = [f"# version {app.version}, namespace {app.namespace}\n"]
            objects = []
            for resource in app.resources:
                objects.append((len(lines) + 1, _object_label(resource)))
                lines.extend(_dump(resource).splitlines(keepends=True))
            text = _AppText(lines, objects)
            self._texts[app.digest] = text
        return text

    def diff(self, name: str, base: DesiredApp | None, head: DesiredApp | None) -> str:
        key = (name, base.digest if base else None, head.digest if head else None)
        cached = self._diffs.get(key)
        if cached is None:
            old = self.text(base) if base else None
            new = self.text(head) if head else None
            lines = difflib.unified_diff(
                old.lines if old else [],
                new.lines if new else [],
                fromfile=f"a/{name}" if base else "/dev/null",
                tofile=f"b/{name}" if head else "/dev/null",
                n=self.context,
            )
            cached = _label_hunks(list(lines), old, new)
            self._diffs[key] = cached
        return cached


def _dump(resource: Mapping[str, object]) -> str:
    return yaml.dump(
        resource,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        explicit_start=True,
        width=_YAML_WIDTH,
    )


def _object_label(resource: Mapping[str, object]) -> str:
    metadata = resource.get("metadata")
    name = metadata.get("name", "") if isinstance(metadata, Mapping) else ""
    return f"{resource.get('kind', '?')} {name}"


def _label_hunks(lines: list[str], old: _AppText | None, new: _AppText | None) -> str:
    """`@@ -50,7 +50,7 @@` → `@@ -50,7 +50,7 @@ DaemonSet sensor-collector`: the object
    holding the hunk's first changed line, like git's function context."""
    out = []
    for index, line in enumerate(lines):
        match = _HUNK.match(line)
        if match is None:
            out.append(line)
            continue
        leading = 0
        for following in lines[index + 1 :]:
            if not following.startswith(" "):
                break
            leading += 1
        first = lines[index + 1 + leading] if index + 1 + leading < len(lines) else ""
        if first.startswith("-") and old is not None:
            label = old.object_at(int(match.group(1)) + leading)
        else:
            label = new.object_at(int(match.group(2)) + leading) if new is not None else ""
        out.append(f"{match.group(0)} {label}\n" if label else line)
    return "".join(out)


def compare(
    base: Side,
    head: Side,
    base_apps: Mapping[str, Mapping[str, DesiredApp]],
    head_apps: Mapping[str, Mapping[str, DesiredApp]],
    context: int = 3,
) -> FleetDiff:
    """Compare two renders (node -> app -> DesiredApp; every node present, maybe with no apps)."""
    texts = _AppTexts(context)
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
            apps.append(AppChange(name, change, old, new, texts.diff(name, old, new)))
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
    return tuple(
        ChangeGroup(tuple(m.node for m in members), members[0].change, members[0].apps)
        for members in ordered
    )


# --- the whole operation --------------------------------------------------------------------


def _render(repo: FleetRepository, side: Side) -> dict[str, dict[str, DesiredApp]]:
    with repo.checkout(side) as root:
        if not (root / "fleet.yaml").is_file():
            raise FleetError(
                [Problem(file="fleet.yaml", message="not found: not a fleet repository")]
            )
        render = load_and_render(root)
    return {node: dict(render.apps.get(node, {})) for node in render.fleet.nodes}


def diff_revisions(repo: FleetRepository, base: Side, head: Side, context: int = 3) -> FleetDiff:
    """Render both sides and compare them. RenderFailed lists every problem of each broken side."""
    renders: list[dict[str, dict[str, DesiredApp]]] = []
    failures: list[tuple[Side, list[Problem]]] = []
    for side in (base, head):
        if side is head and head.commit is not None and head.commit == base.commit:
            renders.append(renders[0] if renders else {})  # one commit: render it once
            continue
        try:
            renders.append(_render(repo, side))
        except FleetError as exc:
            failures.append((side, list(exc.problems)))
    if failures:
        raise RenderFailed(failures)
    return compare(base, head, renders[0], renders[1], context)
