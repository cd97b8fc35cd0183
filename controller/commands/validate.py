"""`shoal validate [REPO]`: check every file and render every node, listing every error.

Exit 0 when the repository is clean ("ok: 6 nodes, 3 apps, 4 groups, 18 app
renders"), 1 with each problem on its own line (`file:line: where: message (node N,
app A)`). An app or group whose selector matches no node is a note, not an error (a
misspelt tag key looks just like that). Made for CI and pre-commit hooks; `--format json` for tools. A broken file
does not hide the problems of the others (`checking.check_repository`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from controller.commands.reporting import add_repo_argument, describe, grouped
from controller.fleet.model import Fleet
from controller.fleet.problems import Problem, sort_key
from controller.render.checking import check_repository
from controller.rollout.control import control_problems
from shadow.errors import ExitCode
from shadow.policy import beyond


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
    parser.add_argument(
        "--workers",
        type=int,
        choices=[1, 2],
        default=1,
        help="render a fleet of 2,000 nodes or more in 2 processes when 2 cores are free "
        "(default: 1)",
    )
    return parser


def run(args: argparse.Namespace) -> ExitCode:
    summary: dict[str, Any] = {"repo": args.repo}
    check = check_repository(Path(args.repo), workers=args.workers)
    controls = control_problems(Path(args.repo), check.fleet.apps)
    problems = sorted(
        check.problems + [Problem(f, m, line=n) for f, m, n in controls], key=sort_key
    )
    summary["rendered"] = check.render is not None
    if check.render is not None:
        summary.update(
            nodes=len(check.fleet.nodes),
            apps=len(check.fleet.apps),
            groups=len(check.fleet.groups),
            appRenders=sum(len(apps) for apps in check.render.apps.values()),
            distinctRenders=check.render.renders,
        )
    notes = _unmatched(check.fleet) + check.render.notes if check.render is not None else []
    notes += _policies_beyond_the_fleet(check.fleet)
    if args.format == "json":
        summary["ok"] = not problems
        summary["notes"] = notes
        summary["problems"] = [p.to_dict() for p in problems]
        print(json.dumps(summary, indent=2))
        return ExitCode.BAD_INPUT if problems else ExitCode.OK
    if problems:
        lines = [describe(problem, nodes) for problem, nodes in grouped(problems)]
        print("\n".join(lines))
        print(f"invalid: {len(lines)} problem(s) in {args.repo}", file=sys.stderr)
        if check.render is None and Path(args.repo).is_dir():
            print(
                "note: nodes not rendered: fix fleet.yaml and groups/ first "
                "(until then, every node's variables are unknown)",
                file=sys.stderr,
            )
        return ExitCode.BAD_INPUT
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"ok: {summary['nodes']} nodes, {summary['apps']} apps, {summary['groups']} groups, "
        f"{summary['appRenders']} app renders ({summary['distinctRenders']} distinct)"
    )
    return ExitCode.OK


def _policies_beyond_the_fleet(fleet: Fleet) -> list[str]:
    """app.yaml policy entries fleet.yaml does not allow: they allow nothing."""
    notes = []
    for name in sorted(fleet.apps):
        app = fleet.apps[name]
        if len(app.policy) == 2:
            for entry in beyond(*app.policy):
                notes.append(
                    f"{app.file}: policy.{entry} allows nothing: fleet.yaml's policy does not"
                    " allow it (an object must pass both; allow it in fleet.yaml)"
                )
    return notes


def _unmatched(fleet: Fleet) -> list[str]:
    """Apps and groups whose selector matches none of the fleet's nodes."""
    notes = []
    for kind, entries in (("app", fleet.apps), ("group", fleet.groups)):
        for name in sorted(entries):
            entry = entries[name]
            if not any(entry.selector.matches(node.tags) for node in fleet.nodes.values()):
                notes.append(
                    f"{entry.file}: {kind} {name}'s selector '{entry.selector}' matches no node"
                    " (check the tag keys and values against nodes/)"
                )
    return notes
