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

import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from controller.dashboard.source import FleetState
from controller.gitcli import GitFailed, git_text
from controller.status.expected import ExpectedFleet, expect
from controller.status.reading import FleetStatus
from controller.status.rows import UNKNOWN_NODE, app_counts, build_rows, known_apps
from shadow import NODE_STATES

log = logging.getLogger(__name__)

COMMIT_ID = re.compile(r"[0-9a-f]{4,64}")
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
    positions: dict[str, int] = field(default_factory=dict)  # node -> index in rows

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
    """The latest `Snapshot` of a `FleetState`, rebuilt when it changed.

    Entries are replaced, never changed in place (controller/status/book.py), so when
    only some reports moved and the served revision did not, only their rows are
    built again and the counts are adjusted by the difference: a fleet of 10,000
    nodes reporting all the time costs a few rows per rebuild, not 10,000. When every
    row must be built again (a new revision is served), that happens in a background
    thread while requests keep getting the previous snapshot; only the very first
    snapshot is built inside a request.
    """

    def __init__(self, state: FleetState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._current: Snapshot | None = None
        self._entries: dict[str, dict[str, Any]] = {}  # what `_current` was built from
        self._view: tuple[str, ExpectedFleet] | None = None  # per served revision
        self._distances: dict[tuple[str, str], int | None] = {}
        self._building: threading.Thread | None = None

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
            if current is not None and current.served == revision:
                snapshot = self._update(current, key, entries, served)
                if snapshot is not None:
                    self._current, self._entries = snapshot, entries
                    return snapshot
            if current is not None:
                if self._building is None:
                    self._building = threading.Thread(
                        target=self._build_later,
                        args=(key, entries, served),
                        name="dashboard-snapshot",
                        daemon=True,
                    )
                    self._building.start()
                return current
            self._current, self._entries = self._build(key, entries, served), entries
            return self._current

    def _build_later(
        self, key: tuple[Any, ...], entries: dict[str, dict[str, Any]], served: Any
    ) -> None:
        snapshot = None
        try:
            snapshot = self._build(key, entries, served)
        except Exception:  # the pages keep the previous snapshot; the next request retries
            log.exception("dashboard: cannot build the fleet snapshot")
        with self._lock:
            self._building = None
            if snapshot is not None:
                self._current, self._entries = snapshot, entries

    def _expected(self, served: Any) -> ExpectedFleet | None:
        """The served revision's tags and per-node digests (computed once per revision)."""
        if served is None:
            return None
        if self._view is None or self._view[0] != served.revision:
            self._view = (served.revision, expect(served.fleet, served.apps))
        return self._view[1]

    def _rows(
        self, entries: dict[str, dict[str, Any]], names: set[str], revision: str | None, view: Any
    ) -> tuple[FleetStatus, list[dict[str, Any]]]:
        """`shoal status`'s rows for `names`, each with `lastSeen`."""
        status = FleetStatus(
            repo=Path("."),
            status_ref=self.state.status_branch or "",
            status_commit="",
            status_time="",
            head_ref=self.state.branch,
            head=revision,
            nodes=entries,
        )
        for node in names & entries.keys():
            observed = str((entries[node].get("observed") or {}).get("revision") or "")
            if observed not in status.behind:
                status.behind[observed] = self._distance(observed, revision)
        rows = build_rows(status, names, view, None)
        for row in rows:
            row["lastSeen"] = parse_time(row.get("lastReport"))
        return status, rows

    def _build(
        self, key: tuple[Any, ...], entries: dict[str, dict[str, Any]], served: Any
    ) -> Snapshot:
        revision = served.revision if served is not None else None
        view = self._expected(served)
        names = set(entries) | set(view.tags if view else ())
        status, rows = self._rows(entries, names, revision, view)
        states: Counter[str] = Counter(str(row.get("state")) for row in rows)
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
            positions={row["node"]: i for i, row in enumerate(rows)},
        )
        snapshot.built_at = time.monotonic()
        return snapshot

    def _update(
        self, old: Snapshot, key: tuple[Any, ...], entries: dict[str, dict[str, Any]], served: Any
    ) -> Snapshot | None:
        """`old` with the rows of the nodes whose entry changed; None: build it whole."""
        before = self._entries
        changed = {node for node, entry in entries.items() if before.get(node) is not entry}
        if len(before) > len(entries) or not changed <= old.by_node.keys():
            return None  # a node left or a new one reported: the order changes
        if len(changed) > len(entries) // 2:
            return None
        _, fresh = self._rows(entries, changed, old.served, self._expected(served))
        rows, by_node = list(old.rows), dict(old.by_node)
        states = Counter(old.states)
        app_states = {app: dict(counts) for app, counts in old.app_states.items()}
        positions = old.positions  # the same nodes in the same order: shared, never changed
        apps = set(old.apps)
        for row in fresh:
            previous = by_node[row["node"]]
            states[str(previous.get("state"))] -= 1
            states[str(row.get("state"))] += 1
            for sign, counted in ((-1, previous), (1, row)):
                for app, counts in app_counts([counted], None).items():
                    mine = app_states.setdefault(app, dict.fromkeys(counts, 0))
                    for state, n in counts.items():
                        mine[state] = mine.get(state, 0) + sign * n
            apps.update(row.get("apps") or {})
            rows[positions[row["node"]]] = row
            by_node[row["node"]] = row
        snapshot = Snapshot(
            key=key,
            built=time.time(),
            served=old.served,
            head=key[2],
            fleet_name=old.fleet_name,
            rows=rows,
            tags=old.tags,
            apps=sorted(apps),
            app_states={app: app_states[app] for app in sorted(app_states)},
            states=+states,
            by_node=by_node,
            positions=positions,
        )
        snapshot.built_at = time.monotonic()
        return snapshot

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
            # A revision comes from an edge's report: only a commit id reaches git.
            if where is not None and COMMIT_ID.fullmatch(revision):
                try:
                    count = int(
                        git_text("rev-list", "--count", f"{revision}..{served}", repo_dir=where)
                    )
                except (GitFailed, ValueError):
                    count = None
            if len(self._distances) > 1000:
                self._distances.clear()
            self._distances[key] = count
            return count
        return self._distances.get(key)
