"""`shoal diff [REPO] BASE [HEAD]`: which nodes and apps a change to the fleet repository
affects, with a unified diff of the rendered objects, for review and for CI.

BASE and HEAD are git revisions; without HEAD the working tree is compared. The logic
is `controller.review.diffing`, the output formats `controller.review.diffreport`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from shadow.errors import ExitCode

USAGE = "shoal diff [options] [REPO] BASE [HEAD]"


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "diff",
        usage=USAGE,
        help="show which nodes and apps a change affects, with the rendered diff",
        description="Render the fleet at two git revisions (HEAD defaults to the working "
        "tree) and show which nodes and apps change, grouping nodes that change identically.",
        epilog="Examples: `shoal diff main` (your uncommitted work), `shoal diff main HEAD`, "
        "`shoal diff fleet/ origin/main HEAD --format markdown`. REPO defaults to `.`; "
        "with two arguments the first is REPO when it is a directory.",
    )
    parser.add_argument(
        "arguments", nargs="+", metavar="[REPO] BASE [HEAD]", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--format",
        choices=["text", "markdown", "json"],
        default="text",
        help="text for a terminal, markdown for a pull-request comment, json for programs "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when anything changes, 0 when nothing does (like git diff)",
    )
    parser.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="color the text format: auto = when output is a terminal and NO_COLOR is unset",
    )
    parser.add_argument(
        "-U",
        "--unified",
        type=int,
        default=3,
        metavar="N",
        help="lines of context around each change (default: %(default)s)",
    )
    return parser


def _use_color(choice: str) -> bool:
    if choice == "auto":
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return choice == "always"


def run(args: argparse.Namespace) -> ExitCode:
    """GitFailed (no repository, an unknown revision) reaches shoal/cli.py: exit 2."""
    from controller.commands.reporting import describe, grouped
    from controller.review import diffreport
    from controller.review.checkouts import WORKING_TREE, FleetRepository
    from controller.review.diffing import RenderFailed, diff_revisions

    arguments: list[str] = args.arguments
    if len(arguments) > 3:
        print(f"usage: {USAGE}\nerror: too many arguments", file=sys.stderr)
        return ExitCode.USAGE
    try:
        repo_path, base_rev, head_rev = _split(arguments)
        repo = FleetRepository.open(Path(repo_path))
        base = repo.resolve(base_rev)
        head = repo.resolve(head_rev) if head_rev is not None else WORKING_TREE
        diff = diff_revisions(repo, base, head, context=max(0, args.unified))
    except RenderFailed as exc:
        # A mistake shared by 500 nodes is one line naming a few of them.
        failures = [
            (side, [describe(p, nodes) for p, nodes in grouped(problems)])
            for side, problems in exc.failures
        ]
        for side, lines in failures:
            print(f"error: {side.short} does not load or render:", file=sys.stderr)
            for line in lines:
                print(f"  {line}", file=sys.stderr)
        if args.format == "markdown":
            sys.stdout.write(diffreport.failure_markdown(failures))
        elif args.format == "json":
            sys.stdout.write(diffreport.failure_json(exc))
        return ExitCode.BAD_INPUT

    if args.format == "markdown":
        sys.stdout.write(diffreport.format_markdown(diff))
    elif args.format == "json":
        sys.stdout.write(diffreport.format_json(diff))
    else:
        sys.stdout.write(diffreport.format_text(diff, color=_use_color(args.color)))
    return ExitCode.BAD_INPUT if args.exit_code and diff.changed else ExitCode.OK


def _split(arguments: list[str]) -> tuple[str, str, str | None]:
    """(REPO, BASE, HEAD) from 1-3 positional arguments.

    Two arguments are REPO BASE when the first is a directory, else BASE HEAD; a name that
    is both a directory and a revision is refused rather than guessed."""
    from controller.gitcli import GitFailed
    from controller.review.checkouts import FleetRepository

    if len(arguments) == 3:
        return arguments[0], arguments[1], arguments[2]
    if len(arguments) == 1:
        return ".", arguments[0], None
    first, second = arguments
    if not Path(first).is_dir():
        return ".", first, second
    try:
        ambiguous = FleetRepository.open(Path(".")).is_revision(first)
    except GitFailed:  # the current directory is no repository: `first` can only be REPO
        ambiguous = False
    if ambiguous:
        raise GitFailed(
            f"{first!r} is both a directory and a revision: give all three, "
            f"e.g. `shoal diff . {first} {second}` or `shoal diff {first} {second} HEAD`"
        )
    return first, second, None
