"""`shoal wait --revision REV`: block until every node that should run a revision runs it.

For CI and scripts, like `kubectl rollout status` and `argocd app wait`: it polls the
status branch (fetching it from --remote each time) and the controller's own record
(controller.yaml) until the verdict of `controller.status.waiting` is in. Exit 0 when
every node of the fleet at REV is Synced at it, 1 on a failure (REV rejected by the
controller, a node Failed or Degraded at REV, a rollout of REV halted, rolled back or
aborted), 2 on timeout (or when git cannot be read).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

from controller.gitcli import GitFailed, git
from shadow.errors import BadInput, ExitCode

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0
DEFAULT_INTERVAL = 2.0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "wait",
        help="wait until every node runs a revision (exit 0), one fails (1) or time runs out (2)",
        description="Poll the status branch (fetched from --remote each time) until every "
        "node of the fleet at REV reports it Synced: exit 0. Exit 1 as soon as the "
        "controller rejects REV, a node is Failed or Degraded at REV, or a rollout of REV "
        "is halted, rolled back or aborted; exit 2 when --timeout passes. A node whose "
        "render REV does not change counts once it observes what REV renders for it.",
        epilog="example: git push && shoal wait --revision HEAD --timeout 300",
    )
    parser.add_argument(
        "repo", nargs="?", default=".", type=Path, help="fleet repository (default: .)"
    )
    parser.add_argument(
        "--revision",
        required=True,
        metavar="REV",
        help="the fleet revision: a sha (short is fine) or a ref name (HEAD, main, a tag)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="give up after this long, exit 2 (default: %(default)g; 0: no limit)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help="look again this often (default: %(default)g)",
    )
    parser.add_argument(
        "--branch", default="shoal-status", help="status branch (default: %(default)s)"
    )
    parser.add_argument(
        "--remote",
        default="origin",
        help="fetch the status branch from here each time (default: %(default)s)",
    )
    parser.add_argument(
        "--no-fetch",
        action="store_true",
        help="read the status branch as it is in REPO (the controller's remote itself)",
    )
    parser.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="json: progress lines go to stderr, one result document to stdout",
    )
    return parser


def resolve(repo: Path, revision: str, remote: str) -> str:
    """The full sha of `revision` (a sha, short or not, or a ref; also `<remote>/REV`)."""
    for candidate in (revision, f"{remote}/{revision}"):
        try:
            out = git("rev-parse", "--verify", "-q", f"{candidate}^{{commit}}", cwd=repo)
        except GitFailed:
            continue
        return out.decode().strip()
    try:
        git("rev-parse", "--git-dir", cwd=repo)
    except GitFailed as exc:
        raise GitFailed(f"{repo} is not a git repository", exc.command) from exc
    raise BadInput(
        f"--revision {revision!r}: no such commit or ref in {repo} (fetch it first: git fetch)"
    )


def run(args: argparse.Namespace) -> ExitCode:
    from controller.status.controllerstate import read_controller
    from controller.status.expected import expected_fleet
    from controller.status.reading import fetch_status, read_entries, resolve_status_ref
    from controller.status.waiting import RevisionProgress, progress

    if args.interval <= 0 or args.timeout < 0:
        print("error: --interval must be above 0 and --timeout not below 0", file=sys.stderr)
        return ExitCode.USAGE
    repo = args.repo
    revision = resolve(repo, args.revision, args.remote)
    view, problem = expected_fleet(repo, revision)
    if view is None:
        return finish(args, None, f"{revision[:7]} cannot run anywhere: {problem}", 1)
    nodes = {node: view.digests.get(node) for node in view.tags}

    @cache
    def reached(observed: str) -> bool:
        """`observed` is the revision or a later commit (it includes the change)."""
        if observed == revision:
            return True
        try:
            git("merge-base", "--is-ancestor", revision, observed, cwd=repo)
        except GitFailed:
            return False
        return True

    deadline = time.monotonic() + args.timeout if args.timeout else None
    said = ""
    first = True
    found: RevisionProgress | None = None
    while True:
        if not args.no_fetch:
            try:
                fetch_status(repo, args.branch, args.remote)
            except GitFailed as exc:
                if "couldn't find remote ref" in exc.detail:
                    pass  # no status branch yet (no node reported): it comes
                elif first:
                    raise  # no such remote, an unreachable one: exit 2 at once
                else:
                    log.warning(
                        "cannot fetch %s/%s: %s; trying again", args.remote, args.branch, exc
                    )
        first = False
        try:
            _, commit = resolve_status_ref(repo, args.branch, args.remote)
        except GitFailed:
            commit = None  # no status branch yet: no node reported
        entries = read_entries(repo, commit) if commit else {}
        record = read_controller(repo, commit) if commit else None
        found = progress(revision, nodes, entries, record, reached)
        line = found.line()
        if line != said:
            print(line, file=sys.stderr if args.format == "json" else sys.stdout, flush=True)
            said = line
        if found.verdict == "synced":
            return finish(args, found, f"{revision[:7]}: every node is Synced at it", 0)
        if found.verdict == "failed":
            return finish(args, found, failure(found), 1)
        if deadline is not None and time.monotonic() >= deadline:
            return finish(args, found, f"timed out after {args.timeout:g}s: {line}", 2)
        pause = args.interval
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - time.monotonic()))
        time.sleep(pause)


def failure(found: Any) -> str:
    short = found.revision[:7]
    if found.rejected:
        more = len(found.rejected) - 1
        return f"{short} is rejected by the controller: {found.rejected[0]}" + (
            f" (and {more} more)" if more else ""
        )
    if found.failed_rollouts:
        states = ", ".join(f"{app} {state}" for app, state in sorted(found.failed_rollouts.items()))
        return f"{short}: rollout {states}"
    node = sorted(found.failed)[0]
    others = len(found.failed) - 1
    return f"{short} failed on {node}: {found.failed[node]}" + (
        f" (and {others} more nodes)" if others else ""
    )


def finish(args: argparse.Namespace, found: Any, message: str, code: int) -> ExitCode:
    if args.format == "json":
        document = found.as_json() if found is not None else {"result": "failed"}
        document.update(
            {
                "result": {0: "synced", 1: "failed", 2: "timeout"}[code],
                "message": message,
                "exitCode": code,
            }
        )
        json.dump(document, sys.stdout, indent=2)
        print()
    else:
        print(
            message if code == 0 else f"error: {message}",
            file=sys.stdout if code == 0 else sys.stderr,
        )
    return ExitCode(code)
