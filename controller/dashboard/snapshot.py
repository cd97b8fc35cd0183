"""One consistent picture of the fleet for the pages: `Snapshot`, and `Snapshots` that
rebuilds it only when something changed.

The rows are `shoal status`'s rows (controller/status/rows.py), compared with the
revision the controller serves rather than a clone's HEAD: a node "behind" is one
whose observed render differs from what the broker holds for it. A snapshot is
rebuilt when a report, the served revision or the branch head moved, at most every
`MIN_AGE` seconds, so a fleet reporting constantly costs one build per interval, not
one per request; each page then filters and pages through ready rows.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from controller.dashboard.source import FleetState
from controller.gitcli import GitFailed, git_text
from controller.status.expected import ExpectedFleet
from controller.status.reading import FleetStatus
from controller.status.rows import UNKNOWN_NODE, app_counts, build_rows, known_apps
from shadow import NODE_STATES, node_digest

MIN_AGE = 0.25  # seconds a snapshot is kept while reports keep moving
NO_REPORT = "NoReport"
STATES = (*NODE_STATES, NO_REPORT, UNKNOWN_NODE)


@dataclass
class Snapshot:
    """The fleet at one moment, as every page shows it."""

    key: tuple[Any, ...]
    built: float  # time.time() when built
    served: str | None  # the revision the broker holds
    head: str | None  # the branch head last fetched
    fleet_name: str
    rows: list[dict[str, Any]]  # by node name; each with `lastSeen` (epoch seconds or None)
    tags: dict[str, dict[str, str]]
    apps: list[str]  # of the fleet, and any app a node reports
    app_states: dict[str, dict[str, int]]
    states: Counter[str] = field(default_factory=Counter)
    by_node: dict[str, dict[str, Any]] = field(default_factory=dict)
    built_at: float = 0.0  # time.monotonic() when built

    @property
    def nodes(self) -> list[str]:
        return [row["node"] for row in self.rows]


def parse_time(text: Any) -> float | None:
    """Epoch seconds of a report's ISO-8601 time (`2026-11-25T00:00:00Z`), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Snapshots:
    """The latest `Snapshot` of a `FleetState`, rebuilt when it changed."""

    def __init__(self, state: FleetState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._current: Snapshot | None = None
        self._digests: tuple[str, dict[str, str]] | None = None  # per served revision
        self._distances: dict[tuple[str, str], int | None] = {}

    def get(self) -> Snapshot:
        with self._lock:
            version, entries = self.state.reports()
            served = self.state.served()
            revision = served.revision if served is not None else None
            key = (version, revision, self.state.branch_head())
            current = self._current
            if current is not None and (
                current.key == key or time.monotonic() - current.built_at < MIN_AGE
            ):
                return current
            self._current = self._build(key, entries, served)
            return self._current

    def _build(
        self, key: tuple[Any, ...], entries: dict[str, dict[str, Any]], served: Any
    ) -> Snapshot:
        revision = served.revision if served is not None else None
        view = None
        if served is not None:
            fleet = served.fleet
            tags = {name: dict(node.tags) for name, node in fleet.nodes.items()}
            view = ExpectedFleet(tags, self._expected_digests(served), frozenset(fleet.apps))
        status = FleetStatus(
            repo=Path("."),
            status_ref=self.state.status_branch or "",
            status_commit="",
            status_time="",
            head_ref=self.state.branch,
            head=revision,
            nodes=entries,
        )
        observed = {str((e.get("observed") or {}).get("revision") or "") for e in entries.values()}
        for rev in observed:
            status.behind[rev] = self._distance(rev, revision)
        names = set(entries) | set(view.tags if view else ())
        rows = build_rows(status, names, view, None)
        states: Counter[str] = Counter()
        for row in rows:
            row["lastSeen"] = parse_time(row.get("lastReport"))
            states[str(row.get("state"))] += 1
        snapshot = Snapshot(
            key=key,
            built=time.time(),
            served=revision,
            head=key[2],
            fleet_name=served.fleet.name if served is not None else "",
            rows=rows,
            tags=view.tags if view else {},
            apps=known_apps(status, view),
            app_states=app_counts(rows, None),
            states=states,
            by_node={row["node"]: row for row in rows},
        )
        snapshot.built_at = time.monotonic()
        return snapshot

    def _expected_digests(self, served: Any) -> dict[str, str]:
        """What each node should observe at the served revision (computed once per revision)."""
        if self._digests is None or self._digests[0] != served.revision:
            digests = {node: node_digest(apps) for node, apps in served.apps.items()}
            self._digests = (served.revision, digests)
        return self._digests[1]

    def _distance(self, revision: str, served: str | None) -> int | None:
        """Commits from `revision` to the served one (None: unknown to the controller's clone)."""
        if not revision or served is None:
            return None
        if revision == served:
            return 0
        key = (revision, served)
        if key not in self._distances:
            where = self.state.fleet_dir()
            count: int | None = None
            if where is not None:
                try:
                    count = int(
                        git_text("rev-list", "--count", f"{revision}..{served}", repo_dir=where)
                    )
                except (GitFailed, ValueError):
                    count = None
            if len(self._distances) > 1000:
                self._distances.clear()
            self._distances[key] = count
        return self._distances[key]
