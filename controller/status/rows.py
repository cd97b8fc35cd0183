"""Rows of the fleet's status: one per node, from the status branch and the fleet at a ref.

Shared by `shoal status` (controller/commands/status.py) and the dashboard
(controller/dashboard): the same rows, the same "behind" rule, the same app counts and
the same grouping of messages, so the terminal and the browser never disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.status.expected import ExpectedFleet
    from controller.status.reading import FleetStatus

APP_STATES = ("Ready", "Progressing", "Failed")
# The state shown for a node file whose node is not in the fleet at the compared ref.
UNKNOWN_NODE = "Unknown node"


def known_apps(status: FleetStatus, view: ExpectedFleet | None) -> list[str]:
    """Apps of the fleet at the compared ref, and any app a node reports (an older one)."""
    names = set(view.apps) if view else set()
    for entry in status.nodes.values():
        names.update(entry.get("apps") or {})
    return sorted(names)


def needs_a_look(row: dict[str, Any]) -> bool:
    """Not converged: not Synced (or not in the fleet), behind the head, offline, or never
    reported."""
    return (
        row.get("state") != "Synced"
        or bool(row.get("behind"))
        or row.get("online") is False
        or agent_behind(row)
    )


def agent_behind(row: dict[str, Any]) -> bool:
    """The node runs another agent version than the fleet declares for it."""
    declared = row.get("agentDeclared")
    return bool(declared) and row.get("agent") != declared


def build_rows(
    status: FleetStatus, names: set[str], view: ExpectedFleet | None, app: str | None
) -> list[dict[str, Any]]:
    """One row per node; `behind` is 0 when the node runs what the head renders for it,
    else how many commits its observed revision is behind (None: not in this clone)."""
    rows: list[dict[str, Any]] = []
    for node in sorted(names):
        entry = status.nodes.get(node)
        if entry is None:
            # In the fleet, never reported (or not since the status branch began).
            if app is None:
                rows.append({"node": node, "state": "NoReport", "online": None, "apps": {}})
            continue
        if app is not None and app not in (entry.get("apps") or {}):
            continue
        row = dict(entry)
        behind = status.behind_of(node)
        wants = view.digests.get(node) if view else None
        if wants is not None:
            observed = (entry.get("observed") or {}).get("digest")
            # A commit that does not change a node's render leaves it on its old revision.
            behind = 0 if observed == wants else (behind or 1)
        row["behind"] = behind
        if view is not None and view.agents.get(node):
            row["agentDeclared"] = view.agents[node]
        if view is not None and node not in view.tags:
            # Reported, but not a node of the fleet at the compared ref: removed since, or
            # a report published under a name the fleet never had (the broker's ACL is what
            # vouches for a topic). Shown apart and never counted with the fleet's nodes.
            row["inFleet"] = False
            row["reportedState"] = row.get("state")
            row["state"] = UNKNOWN_NODE
        rows.append(row)
    return rows


def app_counts(rows: list[dict[str, Any]], only: str | None) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        if row.get("inFleet") is False:
            continue  # a node outside the fleet says nothing about the fleet's apps
        for name, app in (row.get("apps") or {}).items():
            if only is not None and name != only:
                continue
            per = counts.get(name)
            if per is None:  # not setdefault: its default would be built for every app
                per = counts[name] = dict.fromkeys(APP_STATES, 0)
            state = str(app.get("state"))
            per[state] = per.get(state, 0) + 1
    return {name: counts[name] for name in sorted(counts)}


def message_lines(row: dict[str, Any], ref: str) -> list[str]:
    lines = []
    if row.get("inFleet") is False:
        lines.append(
            f"not in the fleet at {ref} (reported {row.get('reportedState')}): removed "
            "from the fleet, or a report published under a name the fleet does not have"
        )
    # One line per distinct message, naming the apps that share it: a node that cannot
    # reach its cluster fails every app with the same words, which is one fact, not five.
    shared: dict[str, list[str]] = {}
    if row.get("message"):
        shared[str(row["message"])] = []
    for name, app in sorted((row.get("apps") or {}).items()):
        if app.get("state") != "Ready":
            if app.get("message"):
                shared.setdefault(str(app["message"]), []).append(name)
            for res in app.get("notReady") or []:
                where = f"{res.get('kind')} {res.get('namespace')}/{res.get('name')}"
                text = f"{where} not ready" + (f": {res['message']}" if res.get("message") else "")
                shared.setdefault(text, []).append(name)
    for text, apps in shared.items():
        lines.append(f"{name_list(apps)}: {text}" if apps else text)
    if agent_behind(row):
        lines.append(
            f"agent {row.get('agent') or 'unknown'}, the fleet declares {row['agentDeclared']}"
        )
    update = row.get("agentUpdate")
    if update:
        reason = f": {update['reason']}" if update.get("reason") else ""
        lines.append(f"agent update to {update.get('version')} {update.get('state')}{reason}")
    for rejection in row.get("rejected") or []:
        lines.append(
            f"rejected generation {rejection.get('generation')}: {rejection.get('reason')}"
        )
    return lines


def name_list(apps: list[str], shown: int = 5) -> str:
    more = len(apps) - shown
    return ", ".join(apps[:shown]) + (f" and {more} more" if more > 0 else "")


def shared_messages(rows: list[dict[str, Any]], app: str) -> dict[str, list[str]]:
    """What `app`'s nodes say, as `shoal status` words it per node, each distinct line
    with the nodes that share it (most shared first): one broken template failing
    200 nodes is one line naming them, not 200 lines."""
    shared: dict[str, list[str]] = {}
    for row in rows:
        mine = (row.get("apps") or {}).get(app)
        if mine is None or mine.get("state") == "Ready":
            continue
        only = {**row, "apps": {app: mine}, "message": None, "rejected": None, "inFleet": None}
        for line in message_lines(only, ""):
            shared.setdefault(line.removeprefix(f"{app}: "), []).append(row["node"])
    return dict(sorted(shared.items(), key=lambda item: (-len(item[1]), item[0])))
