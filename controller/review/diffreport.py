"""How `shoal diff` shows a `FleetDiff`: text for a terminal, markdown for a pull-request
comment, JSON for programs. Also how it shows a side that does not load or render.

Called by `controller.commands.diff`; the comparison itself is `controller.review.diffing`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from controller.review.checkouts import Revision
from controller.review.diffing import CHANGES, AppChange, ChangeGroup, FleetDiff, RenderFailed

# Node names listed before "… (+N more)".
NAMES_SHOWN = 10
# Markdown diffs longer than this many lines are folded into <details>.
FOLD_LINES = 25
# GitHub refuses comments over 65,536 characters; leave room for a wrapper and a marker.
MARKDOWN_BUDGET = 60_000
# Kept free for the note saying how many groups were left out.
_NOTE_ROOM = 300


def name_list(names: Sequence[str], shown: int = NAMES_SHOWN, quote: str = "") -> str:
    """`a, b, c` or `a, b, … (+490 more)`."""
    listed = ", ".join(f"{quote}{n}{quote}" for n in names[:shown])
    if len(names) > shown:
        listed += f", … (+{len(names) - shown} more)"
    return listed


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def group_title(group: ChangeGroup, quote: str = "") -> str:
    """`3 nodes: a, b, c` — and `added`/`removed` when the nodes themselves come or go."""
    what = _plural(len(group.nodes), "node")
    if group.change != "changed":
        what += f" {group.change}"
    return f"{what}: {name_list(group.nodes, quote=quote)}"


def context_note(group: ChangeGroup) -> str:
    return f"the same changes on every node; the lines around them are {group.context_from}'s"


def headline(diff: FleetDiff) -> str:
    """One line saying how much changes, e.g. `3 of 6 nodes change`."""
    if not diff.changed:
        verb = "renders" if diff.head_nodes == 1 else "render"
        return f"no changes: {_plural(diff.head_nodes, 'node')} {verb} the same"
    parts = [f"{len(diff.nodes)} of {diff.total_nodes} nodes change"]
    for change in ("added", "removed"):
        names = diff.nodes_with(change)
        if names:
            parts.append(f"{len(names)} {change}")
    return ", ".join(parts)


def _app_line(app: AppChange) -> str:
    return f"{app.app} {app.change} ({app.version})"


# --- text ------------------------------------------------------------------------------------

_RESET = "\033[0m"
_STYLES = {
    "title": "\033[1m",
    "meta": "\033[1m",
    "hunk": "\033[36m",
    "-": "\033[31m",
    "+": "\033[32m",
}


def _paint(line: str, style: str, color: bool) -> str:
    return f"{_STYLES[style]}{line}{_RESET}" if color else line


def _diff_lines(diff: str, color: bool) -> list[str]:
    lines = []
    for line in diff.splitlines():
        if line.startswith(("--- ", "+++ ")):
            style = "meta"
        elif line.startswith("@@"):
            style = "hunk"
        elif line[:1] in ("-", "+"):
            style = line[0]
        else:
            lines.append(line)
            continue
        lines.append(_paint(line, style, color))
    return lines


def format_text(diff: FleetDiff, color: bool = False) -> str:
    lines = [f"shoal diff {diff.base.short} → {diff.head.short}: {headline(diff)}"]
    for name, row in diff.by_app().items():
        counts = ", ".join(
            f"{change} on {_plural(row[change], 'node')}" for change in CHANGES if row[change]
        )
        lines.append(f"   {name}: {counts}")
    for group in diff.groups:
        lines.append("")
        lines.append(_paint(f"== {group_title(group)}", "title", color))
        if not group.apps:
            lines.append("   (no apps)")
        for app in group.apps:
            lines.append(f"   {_app_line(app)}")
        if group.context_from:
            lines.append(f"   ({context_note(group)})")
        for app in group.apps:
            lines.extend(_diff_lines(app.diff, color))
    return "\n".join(lines) + "\n"


# --- markdown --------------------------------------------------------------------------------


def _fence(text: str) -> str:
    """A code fence longer than any backtick run inside `text`, so it cannot be closed early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _summary_table(diff: FleetDiff) -> list[str]:
    counts = diff.app_counts()
    added, removed = diff.nodes_with("added"), diff.nodes_with("removed")
    lines = [
        "| nodes affected | nodes added | nodes removed | apps added | apps changed | apps removed |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {len(diff.nodes)} of {diff.total_nodes} | {len(added)} | {len(removed)} "
        f"| {counts['added']} | {counts['changed']} | {counts['removed']} |",
        "",
    ]
    by_app = diff.by_app()
    if by_app:
        lines += ["| app | added on | changed on | removed from |", "|---|---:|---:|---:|"]
        for app, row in by_app.items():
            cells = [_plural(row[c], "node") if row[c] else "" for c in CHANGES]
            lines.append(f"| `{app}` | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["_apps counts are (node, app) pairs: one app changing on 3 nodes counts 3._", ""]
    return lines


def _group_section(group: ChangeGroup) -> str:
    lines = [f"#### {group_title(group, quote='`')}", ""]
    if not group.apps:
        lines += ["(no apps)", ""]
    for app in group.apps:
        lines.append(f"- `{app.app}` {app.change} ({app.version})")
    lines.append("")
    if group.context_from:
        lines += [f"_{context_note(group)}_", ""]
    body = "".join(app.diff for app in group.apps)
    if body:
        fence = _fence(body)
        block = f"{fence}diff\n{body}{'' if body.endswith(chr(10)) else chr(10)}{fence}\n"
        count = body.count("\n")
        if count > FOLD_LINES:
            block = f"<details><summary>diff ({count} lines)</summary>\n\n{block}\n</details>\n"
        lines.append(block)
    return "\n".join(lines)


def format_markdown(diff: FleetDiff, budget: int = MARKDOWN_BUDGET) -> str:
    """A pull-request comment: headline, summary tables, then one section per change group."""
    parts = [
        f"### shoal diff: {headline(diff)}",
        "",
        f"`{diff.base.short}` → `{diff.head.short}`",
        "",
    ]
    if not diff.changed:
        return "\n".join(parts)
    parts += [*_summary_table(diff), ""]
    text = "\n".join(parts)
    for index, group in enumerate(diff.groups):
        section = _group_section(group) + "\n"
        if len(text) + len(section) > budget - _NOTE_ROOM:
            rest = diff.groups[index:]
            nodes = sum(len(g.nodes) for g in rest)
            text += (
                f"**{_plural(len(rest), 'more group')} ({_plural(nodes, 'node')}) not shown** "
                "to keep this comment under GitHub's size limit: run `shoal diff` locally.\n"
            )
            break
        text += section
    return text


def failure_markdown(failures: Sequence[tuple[Revision, Sequence[str]]]) -> str:
    """The comment when a side does not load or render: its problems, one per line."""
    lines = ["### shoal diff: cannot compare", ""]
    for side, problems in failures:
        lines += [f"`{side.short}` does not load or render:", ""]
        lines += [f"- {_escape(problem)}" for problem in problems]
        lines.append("")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return re.sub(r"([\\`*_<>|\[\]])", r"\\\1", text)


# --- json ------------------------------------------------------------------------------------


def _side(side: Revision) -> dict[str, Any]:
    return {"revision": side.revision, "commit": side.commit, "workingTree": side.commit is None}


def _app_json(app: AppChange) -> dict[str, Any]:
    def state(desired: Any) -> dict[str, str] | None:
        if desired is None:
            return None
        return {
            "version": desired.version,
            "namespace": desired.namespace,
            "digest": desired.digest,
        }

    return {"app": app.app, "change": app.change, "base": state(app.base), "head": state(app.head)}


def to_json(diff: FleetDiff) -> dict[str, Any]:
    """Everything a program needs; diff text appears once per group, not per node."""
    counts = diff.app_counts()
    return {
        "base": _side(diff.base),
        "head": _side(diff.head),
        "changed": diff.changed,
        "summary": {
            "nodes": {
                "base": diff.base_nodes,
                "head": diff.head_nodes,
                "affected": len(diff.nodes),
                "added": diff.nodes_with("added"),
                "removed": diff.nodes_with("removed"),
            },
            "apps": dict(counts),
            "byApp": diff.by_app(),
        },
        "nodes": [
            {"node": n.node, "change": n.change, "apps": [_app_json(a) for a in n.apps]}
            for n in diff.nodes
        ],
        "groups": [
            {
                "nodes": list(g.nodes),
                "change": g.change,
                "apps": [
                    {**_app_json(a), "changes": [c.to_dict() for c in a.changes], "diff": a.diff}
                    for a in g.apps
                ],
                "contextFrom": g.context_from,
            }
            for g in diff.groups
        ],
    }


def format_json(diff: FleetDiff) -> str:
    return json.dumps(to_json(diff), indent=2, ensure_ascii=False) + "\n"


def failure_json(error: RenderFailed) -> str:
    data = {
        "error": "render failed",
        "failures": [
            {"side": _side(side), "problems": [p.to_dict() for p in problems]}
            for side, problems in error.failures
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
