"""`shoal render [REPO] --node NAME [--app APP]`: print a node's Desired document.

Exactly what the controller would publish for the node (generation 0; revision is
the repository's HEAD commit, or "working-tree" outside git), as YAML or JSON.
`--app` keeps only that app in the document.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from controller.commands.reporting import add_repo_argument, load_node, print_problems
from controller.fleet.agent import agent_release
from controller.render.rendering import render_fleet
from shadow import DesiredDocument
from shadow.errors import ExitCode
from shadow.sealing import redact


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Writes shared objects in full each time (no YAML anchors in a document for people)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "render",
        help="print the Desired document one node would receive",
        description="Render one node of a fleet repository into its Desired shadow document.",
    )
    add_repo_argument(parser)
    parser.add_argument("--node", required=True, metavar="NAME", help="the node to render")
    parser.add_argument("--app", metavar="APP", help="only this app")
    parser.add_argument(
        "--format", choices=["yaml", "json"], default="yaml", help="output format (default: yaml)"
    )
    return parser


def run(args: argparse.Namespace) -> ExitCode:
    from controller.review.revision import working_revision  # not at `shoal --help`

    loaded = load_node(args.repo, args.node)
    if loaded is None:
        return ExitCode.BAD_INPUT
    fleet, node = loaded
    if args.app is not None:
        app = fleet.apps.get(args.app)
        if app is None:
            known = ", ".join(sorted(fleet.apps)) or "none"
            print(f"error: no app named {args.app!r} (known: {known})", file=sys.stderr)
            return ExitCode.BAD_INPUT
        failing = app.selector.explain(node.tags)
        if failing is not None:
            print(
                f"error: app {app.name} does not run on node {node.name}: its selector "
                f"{app.selector.text!r} fails at {failing!r} ({app.file})",
                file=sys.stderr,
            )
            return ExitCode.BAD_INPUT
    result = render_fleet(fleet, [node.name])
    if result.problems:
        print_problems(result.problems, sys.stderr)
        return ExitCode.BAD_INPUT
    apps = result.apps[node.name]
    if args.app is not None:
        apps = {args.app: apps[args.app]}
    release = agent_release(fleet, node)
    document = DesiredDocument.build(
        node.name, working_revision(fleet.root), 0, apps, release
    ).to_dict()
    document = redact(document)  # sealed secrets as <sealed NAME sha256:...>, never the token
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(
            yaml.dump(
                document,
                Dumper=_Dumper,
                sort_keys=False,
                default_flow_style=False,
                allow_unicode=True,
            )
        )
    return ExitCode.OK
