"""`shoal status`: what every node last reported, read from the status branch in git.

Works from any clone of the fleet repository (or the controller's remote itself):
no broker, no controller. Shows per node its state, the revision it observes versus
the fleet head (nodes behind stand out), app states and messages, and offline
nodes; then one line per app with Ready / Progressing / Failed counts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.commands.reporting import unknown_name

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
        "from a clone of the fleet repository and show each node's state, the revision it "
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
        help="exit 1 when a node shown is not Synced, is behind, is offline, never reported "
        "or not in the fleet",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--app", metavar="APP", help="only nodes running this app")
    parser.add_argument(
        "--selector",
        metavar="SELECTOR",
        help="only nodes whose tags match, e.g. 'site=paris,role in (gateway)' "
        "(tags come from the fleet at --ref)",
    )
    return parser


def run(args: argparse.Namespace) -> ExitCode:
    from controller.status.expected import expected_fleet
    from controller.status.reading import fetch_status, read_status

    # git failing (no repository, no status branch, a remote that cannot be fetched) raises
    # GitFailed: shoal/cli.py says so and exits 2.
    if args.fetch:
        fetch_status(args.repo, args.branch, args.remote)
    status = read_status(args.repo, branch=args.branch, remote=args.remote, ref=args.ref)
    view, problem = expected_fleet(args.repo, status.head)
    if view is None:
        log.debug("no fleet view at %s: %s", args.ref, problem)
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
        json.dump(as_json(status, rows, args.app), sys.stdout, indent=2)
        print()
    else:
        print_table(status, rows, args.app)
    if args.exit_code and any(needs_a_look(row) for row in rows):
        return ExitCode.BAD_INPUT
    return ExitCode.OK


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
