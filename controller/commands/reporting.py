"""How the fleet commands (validate, render, explain) report problems and find nodes.

A problem list is printed one per line as `file:line: where: message (node N, app
A)`; a render error shared by many nodes (one memoized render) is printed once with
the nodes it affects, so a mistake in a group of 500 nodes stays one readable line.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from controller.fleet.loading import load_fleet
from controller.fleet.model import Fleet, Node
from controller.fleet.problems import FleetError, Problem, sort_key

SHOWN_NODES = 3


def add_repo_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "repo",
        nargs="?",
        default=".",
        metavar="REPO",
        help="the fleet repository (a folder with fleet.yaml; default: the current folder)",
    )


def grouped(problems: Iterable[Problem]) -> list[tuple[Problem, list[str]]]:
    """Problems that differ only by node, merged: (problem without node, nodes)."""
    groups: dict[Problem, list[str]] = {}
    for problem in sorted(problems, key=sort_key):
        key = Problem(problem.file, problem.message, problem.where, problem.line, None, problem.app)
        nodes = groups.setdefault(key, [])
        if problem.node is not None:
            nodes.append(problem.node)
    return list(groups.items())


def describe(problem: Problem, nodes: list[str]) -> str:
    """One line: the problem, naming the node (or the first few and how many more)."""
    if len(nodes) <= 1:
        node = nodes[0] if nodes else None
        return str(
            Problem(problem.file, problem.message, problem.where, problem.line, node, problem.app)
        )
    shown = ", ".join(nodes[:SHOWN_NODES])
    more = f" and {len(nodes) - SHOWN_NODES} more" if len(nodes) > SHOWN_NODES else ""
    context = f"nodes {shown}{more}" + (f", app {problem.app}" if problem.app else "")
    text = problem.location() + ": " + (problem.where + ": " if problem.where else "")
    return f"{text}{problem.message} ({context})"


def print_problems(problems: Iterable[Problem], stream: TextIO) -> int:
    """Print grouped problems one per line; returns how many lines were printed."""
    lines = [describe(problem, nodes) for problem, nodes in grouped(problems)]
    for line in lines:
        print(line, file=stream)
    return len(lines)


def load_or_report(repo: str) -> Fleet | None:
    """The fleet at `repo`, or None after printing every load problem to stderr."""
    try:
        return load_fleet(Path(repo))
    except FleetError as exc:
        count = print_problems(exc.problems, sys.stderr)
        print(f"error: {repo}: {count} problem(s), see above", file=sys.stderr)
        return None


def unknown_node(fleet: Fleet, name: str) -> str:
    """`no node named X (did you mean: ...?) (known: ...)`."""
    return unknown_name("node", name, sorted(fleet.nodes))


def unknown_name(kind: str, name: str, known: list[str]) -> str:
    """`no <kind> named X (did you mean: ...?) (known: ...)`, for a name someone mistyped."""
    close = difflib.get_close_matches(name, known, n=3)
    text = f"no {kind} named {name!r}"
    if close:
        text += f" (did you mean: {', '.join(close)}?)"
    listed = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
    return text + f" (known: {listed or 'none'})"


def load_node(repo: str, name: str) -> tuple[Fleet, Node] | None:
    """The fleet at `repo` and its node `name`, or None after printing why not to stderr.

    The preamble of the commands that work on one node (`render`, `explain`).
    """
    fleet = load_or_report(repo)
    if fleet is None:
        return None
    if name not in fleet.nodes:
        print(f"error: {unknown_node(fleet, name)}", file=sys.stderr)
        return None
    return fleet, fleet.nodes[name]
