"""`shoal validate [REPO]`: check every file and render every node, listing every error.

Exit 0 when the repository is clean ("ok: 6 nodes, 3 apps, 4 groups, 18 app
renders"), 1 with each problem on its own line (`file:line: where: message (node N,
app A)`). Made for CI and pre-commit hooks; `--format json` for tools.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from controller.commands.reporting import add_repo_argument, describe, grouped
from controller.loading import load_fleet
from controller.problems import FleetError, Problem
from controller.rendering import render_fleet


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check a fleet repository: schemas, selectors, and a render of every node",
        description="Validate every file of a fleet repository against its schema and render "
        "every node. Exit 0 when clean, 1 listing every problem (file:line: where: message).",
    )
    add_repo_argument(parser)
    parser.add_argument(
        "--format", choices=["text", "json"], default="text", help="output format (default: text)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    summary: dict[str, Any] = {"repo": args.repo}
    problems: list[Problem]
    try:
        fleet = load_fleet(Path(args.repo))
    except FleetError as exc:
        problems = exc.problems
    else:
        result = render_fleet(fleet)
        problems = result.problems
        summary.update(
            nodes=len(fleet.nodes),
            apps=len(fleet.apps),
            groups=len(fleet.groups),
            appRenders=sum(len(apps) for apps in result.apps.values()),
            distinctRenders=result.renders,
        )
    if args.format == "json":
        summary["ok"] = not problems
        summary["problems"] = [p.to_dict() for p in problems]
        print(json.dumps(summary, indent=2))
        return 1 if problems else 0
    if problems:
        lines = [describe(problem, nodes) for problem, nodes in grouped(problems)]
        print("\n".join(lines))
        print(f"invalid: {len(lines)} problem(s) in {args.repo}", file=sys.stderr)
        return 1
    print(
        f"ok: {summary['nodes']} nodes, {summary['apps']} apps, {summary['groups']} groups, "
        f"{summary['appRenders']} app renders ({summary['distinctRenders']} distinct)"
    )
    return 0
