"""`shoal status`: what every node last reported, read from the status branch in git.

Works from any clone of the fleet repository (or the controller's remote itself):
no broker, no controller. First what the controller says of itself (controller.yaml:
the revision it serves, a rejected one and why, its rollouts); then per node its
state, the revision it observes versus the fleet head (nodes behind stand out), app
states and messages, and offline nodes; then one line per app with Ready /
Progressing / Failed counts. `--watch` shows it again whenever it changes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.commands.reporting import unknown_name
from controller.gitcli import GitFailed
from controller.status.controllerstate import headline, read_controller, rollout_line

# Light: the heavy imports (fleet loading, rendering) stay inside run().
from controller.status.rows import (
    UNKNOWN_NODE,
    app_counts,
    build_rows,
    known_apps,
    message_lines,
    needs_a_look,
)
from shadow.errors import ExitCode

log = logging.getLogger(__name__)

CERTIFICATE_WARNING_DAYS = 30  # `shoal status` warns about identities expiring sooner


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "status",
        help="show what every node last reported (reads the status branch in git)",
        description="Read the status branch the controller writes (default shoal-status) "
        "from a clone of the fleet repository and show first what the controller says of "
        "itself (the revision it serves, a rejected one and why, its rollouts), then each "
        "node's state, the revision it "
        "observes versus the fleet head, its apps and messages, and a summary per app. "
        "Reads git only: `git fetch` first to see the newest status.",
    )
    parser.add_argument(
        "repo", nargs="?", default=".", type=Path, help="fleet repository (default: .)"
    )
    parser.add_argument(
        "--branch", default="shoal-status", help="status branch (default: %(default)s)"
    )
    parser.add_argument(
        "--remote",
        default="origin",
        help="also consider <remote>/<branch>; the newer one wins (default: %(default)s)",
    )
    parser.add_argument(
        "--ref",
        default="HEAD",
        help="the fleet revision nodes are compared with (default: %(default)s)",
    )
    parser.add_argument(
        "--fetch",
        action="store_true",
        help="first fetch the status branch from --remote (git fetch)",
    )
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when the controller rejected the newest revision, or a node shown is not "
        "Synced, is behind, is offline, never reported or not in the fleet",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--app", metavar="APP", help="only nodes running this app")
    parser.add_argument(
        "--selector",
        metavar="SELECTOR",
        help="only nodes whose tags match, e.g. 'site=paris,role in (gateway)' "
        "(tags come from the fleet at --ref)",
    )
    parser.add_argument(
        "--watch",
        "-w",
        action="store_true",
        help="show it again whenever it changes, fetching as --fetch does, until Ctrl-C",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="with --watch: look this often (default: %(default)s)",
    )
    return parser


def run(args: argparse.Namespace) -> ExitCode:
    if args.watch:
        return watch(args)
    return show(args)


def watch(args: argparse.Namespace) -> ExitCode:
    """`--watch`: fetch and show again every --interval, printing only what changed (the
    screen is redrawn on a terminal), until Ctrl-C (exit 0, as `watch` and `kubectl -w`)."""
    from controller.status.reading import fetch_status

    if args.interval <= 0:
        print("error: --interval must be above 0", file=sys.stderr)
        return ExitCode.USAGE
    tty = sys.stdout.isatty()
    shown = None
    first = True
    try:
        while True:
            fetch_error = ""
            try:
                fetch_status(args.repo, args.branch, args.remote)
            except GitFailed as exc:
                if first and not args.fetch:  # no remote to follow: read the local branch
                    log.debug("status --watch: not fetching: %s", exc)
                elif first:
                    raise
                else:
                    fetch_error = f"warning: cannot fetch {args.remote}/{args.branch}: {exc}\n"
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = show(args, fetch=False)
            if first and code != ExitCode.OK and not args.exit_code:
                sys.stderr.write(err.getvalue())
                return code
            text = out.getvalue() + err.getvalue() + fetch_error
            if text != shown and args.format == "json":  # one document per change
                sys.stdout.write(out.getvalue())
                sys.stderr.write(err.getvalue() + fetch_error)
            elif text != shown:
                stamp = time.strftime("%H:%M:%S")
                if tty:
                    sys.stdout.write("\033[H\033[2J")
                sys.stdout.write(f"{stamp} (every {args.interval:g}s, Ctrl-C to stop)\n{text}")
                if not tty:
                    sys.stdout.write("\n")
            sys.stdout.flush()
            shown = text
            first = False
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return ExitCode.OK


def show(args: argparse.Namespace, fetch: bool | None = None) -> ExitCode:
    from controller.status.reading import fetch_status, read_status

    # git failing (no repository, no status branch, a remote that cannot be fetched) raises
    # GitFailed: shoal/cli.py says so and exits 2.
    if args.fetch if fetch is None else fetch:
        fetch_status(args.repo, args.branch, args.remote)
    status = read_status(args.repo, branch=args.branch, remote=args.remote, ref=args.ref)
    record = read_controller(args.repo, status.status_commit)
    view, problem, compared = compared_fleet(args.repo, status.head, args.ref, record)
    tags = view.tags if view else None
    if args.app:
        known = known_apps(status, view)
        if args.app not in known:
            print(f"error: --app: {unknown_name('app', args.app, known)}", file=sys.stderr)
            return ExitCode.BAD_INPUT
    if args.selector:
        if tags is None:
            print(f"error: --selector needs the fleet at {args.ref}: {problem}", file=sys.stderr)
            return ExitCode.BAD_INPUT
        try:
            from controller.fleet.selectors import parse_selector

            selector = parse_selector(args.selector)
        except ValueError as exc:
            print(f"error: --selector {args.selector!r}: {exc}", file=sys.stderr)
            return ExitCode.BAD_INPUT
        names = {n for n, t in tags.items() if selector.matches(t)}
    else:
        names = set(status.nodes) | set(tags or {})
    rows = build_rows(status, names, view, args.app)
    if not rows and (args.app or args.selector):
        what = " and ".join(
            f"{flag} {value!r}"
            for flag, value in (("--app", args.app), ("--selector", args.selector))
            if value
        )
        print(f"no node matches {what}", file=sys.stderr)
    if args.format == "json":
        document = as_json(status, rows, args.app)
        document["controller"] = record
        document["comparedWith"] = compared
        json.dump(document, sys.stdout, indent=2)
        print()
    else:
        print_controller(record)
        if compared.get("note"):
            print(f"note: {compared['note']}")
        print_table(status, rows, args.app)
    rejected = bool((record or {}).get("rejected"))  # the newest revision is not served
    if args.exit_code and (rejected or any(needs_a_look(row) for row in rows)):
        return ExitCode.BAD_INPUT
    return ExitCode.OK


@functools.lru_cache(maxsize=4)
def expected_at(repo: Path, revision: str | None) -> tuple[Any, str]:
    """`expected_fleet`, once per revision and process (a commit never changes, and
    `--watch` would otherwise render the fleet again at every look)."""
    from controller.status.expected import expected_fleet

    return expected_fleet(repo, revision)


def compared_fleet(
    repo: Path, head: str | None, ref: str, record: dict[str, Any] | None
) -> tuple[Any, str, dict[str, Any]]:
    """The fleet nodes are compared with: the one at --ref; when that does not load, the
    revision the controller serves (controller.yaml); else none (the rows are then the
    nodes the status branch records). Returns (view, why --ref failed, what was used)."""
    view, problem = expected_at(repo, head)
    if view is not None:
        return view, problem, {"ref": ref, "revision": head}
    log.debug("no fleet view at %s: %s", ref, problem)
    at = f"{ref} ({head[:7]})" if head else ref
    lines = [line.strip() for line in problem.splitlines() if line.strip()]
    why = (lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]) if lines else ""
    served = str(((record or {}).get("served") or {}).get("revision") or "")
    if served and served != head:
        fallback, _ = expected_at(repo, served)
        if fallback is not None:
            note = (
                f"the fleet at {at} does not load ({why}); nodes are compared with "
                f"{served[:7]}, the revision the controller serves"
            )
            return fallback, problem, {"ref": ref, "revision": served, "note": note}
    note = (
        f"the fleet at {at} does not load ({why}); showing the nodes the status branch "
        "records, without a fleet to compare them with"
    )
    return None, problem, {"ref": ref, "revision": None, "note": note}


def print_controller(record: dict[str, Any] | None, shown: int = 5) -> None:
    """The controller's own state first: served or rejected, and why; its rollouts."""
    if not record:
        return
    print(headline(record))
    rejected = record.get("rejected") or {}
    problems = list(rejected.get("problems") or [])
    for problem in problems[1:shown]:
        print(f"    {problem}")
    more = max(0, len(problems) - shown) + int(rejected.get("moreProblems") or 0)
    if rejected and more > 0:
        print(f"    ... and {more} more (git show <status branch>:controller.yaml)")
    for app, rollout in sorted((record.get("rollouts") or {}).items()):
        print(rollout_line(app, rollout))


def as_json(status: Any, rows: list[dict[str, Any]], app: str | None) -> dict[str, Any]:
    return {
        "fleetHead": status.head,
        "statusBranch": {
            "ref": status.status_ref,
            "commit": status.status_commit,
            "time": status.status_time,
        },
        "nodes": rows,
        "apps": app_counts(rows, app),
        "expiringCertificates": [
            {"node": node, "notAfter": not_after, "daysLeft": days}
            for node, not_after, days in expiring_certificates(rows)
        ],
        "agents": agent_counts(rows),
        "unverified": unverified(rows),
    }


def unverified(rows: list[dict[str, Any]]) -> list[str]:
    """Nodes whose latest recorded report no key in git verified (docs/security.md)."""
    return [str(r["node"]) for r in rows if r.get("verified") is False]


def expiring_certificates(
    rows: list[dict[str, Any]], within_days: int = CERTIFICATE_WARNING_DAYS
) -> list[tuple[str, str, int]]:
    """(node, notAfter, days left) of every node whose reported certificate expires within
    `within_days` (the edge reports it in nodeInfo.certificateNotAfter), soonest first."""
    now = datetime.now(UTC)
    found = []
    for row in rows:
        text = str((row.get("nodeInfo") or {}).get("certificateNotAfter") or "")
        try:
            end = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        days = (end - now).days
        if end.tzinfo is not None and days < within_days:
            found.append((str(row["node"]), text, days))
    return sorted(found, key=lambda item: item[2])


def agent_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Nodes of the fleet per reported agent version."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.get("agent") and row.get("inFleet") is not False:
            counts[str(row["agent"])] = counts.get(str(row["agent"]), 0) + 1
    return dict(sorted(counts.items()))


def _revision_cell(row: dict[str, Any]) -> str:
    revision = str((row.get("observed") or {}).get("revision") or "")
    if not revision:
        return "-"
    behind = row.get("behind")
    if behind is None:
        return f"{revision[:7]} (unknown to this clone)"
    if behind:
        return f"{revision[:7]} ({behind} behind)"
    return revision[:7]


def _apps_cell(row: dict[str, Any]) -> str:
    return " ".join(f"{n}:{a.get('state')}" for n, a in sorted((row.get("apps") or {}).items()))


_STATE_COLORS = {
    "Failed": "31",
    "Degraded": "31",
    "Progressing": "33",
    "NoReport": "2",
    UNKNOWN_NODE: "31",
}


def _painter(out: Any) -> Any:
    """ANSI colours on a terminal (unless NO_COLOR is set); plain text otherwise."""
    if not (hasattr(out, "isatty") and out.isatty()) or os.environ.get("NO_COLOR"):
        return lambda text, color: text
    return lambda text, color: f"\033[{color}m{text}\033[0m"


def print_table(status: Any, rows: list[dict[str, Any]], app: str | None) -> None:
    out = sys.stdout
    head = status.head[:7] if status.head else "unknown"
    out.write(
        f"fleet {status.head_ref} at {head}; status from {status.status_ref} "
        f"at {status.status_commit[:7]} ({status.status_time})\n\n"
    )
    table = [("NODE", "STATE", "ONLINE", "REVISION", "APPS")]
    for row in rows:
        online = row.get("online")
        flag = "-" if online is None else ("yes" if online else "OFFLINE")
        state = str(row.get("state")) + (" (unverified)" if row.get("verified") is False else "")
        table.append((row["node"], state, flag, _revision_cell(row), _apps_cell(row)))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    paint = _painter(out)
    for i, cells in enumerate(table):
        padded = [c.ljust(w) for c, w in zip(cells[:4], widths, strict=True)]
        if i:  # what needs a look stands out: not Synced, offline, behind the head
            row = rows[i - 1]
            if row.get("state") != "Synced" or row.get("verified") is False:
                padded[1] = paint(padded[1], _STATE_COLORS.get(str(row.get("state")), "33"))
            if row.get("online") is False:
                padded[2] = paint(padded[2], "31")
            if row.get("behind"):
                padded[3] = paint(padded[3], "33")
        out.write(f"{'  '.join(padded)}  {cells[4]}".rstrip() + "\n")
        if i:
            for line in message_lines(rows[i - 1], status.head_ref):
                out.write(f"    {line}\n")
    out.write("\n")
    for name, per in app_counts(rows, app).items():
        out.write(
            f"app {name}: {per.get('Ready', 0)} Ready, {per.get('Progressing', 0)} Progressing, "
            f"{per.get('Failed', 0)} Failed\n"
        )
    states: dict[str, int] = {}
    for row in rows:
        states[str(row.get("state"))] = states.get(str(row.get("state")), 0) + 1
    behind = sum(1 for r in rows if r.get("behind"))
    offline = sum(1 for r in rows if r.get("online") is False)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    out.write(f"{len(rows)} nodes: {parts or 'none'}; {behind} behind {head}; {offline} offline\n")
    for node, not_after, days in expiring_certificates(rows):
        when = (
            f"expired on {not_after[:10]}"
            if days < 0
            else f"expires in {days} days ({not_after[:10]})"
        )
        out.write(f"warning: node {node}'s certificate {when}: renew it (shoal ca renew)\n")
    versions = agent_counts(rows)
    if versions:
        counted = ", ".join(f"{n} on {v}" for v, n in sorted(versions.items()))
        declared = sorted({str(r["agentDeclared"]) for r in rows if r.get("agentDeclared")})
        wants = f" (the fleet declares {', '.join(declared)})" if declared else ""
        out.write(f"agents: {counted}{wants}\n")
    doubtful = unverified(rows)
    if doubtful:
        out.write(
            f"{len(doubtful)} unverified: {', '.join(doubtful[:10])}"
            f"{' +' + str(len(doubtful) - 10) + ' more' if len(doubtful) > 10 else ''} "
            "(reports not signed by a reportKey in git; docs/security.md)\n"
        )
    strangers = [str(r["node"]) for r in rows if r.get("inFleet") is False]
    if strangers:
        out.write(
            f"{len(strangers)} not in the fleet: {', '.join(strangers)} "
            f"(not counted in the app lines above)\n"
        )
