"""The status book: the latest report per node, turned into status-branch files.

Pure and single-threaded (the `StatusWriter` holds a lock around it), so unit tests
drive it directly. It knows what the status branch already holds (`load_committed`)
and marks a node pending only when its *meaningful* content differs from that:
state, observed revision/generation/digest, app states, messages, rejections and
whether the node is online. A report that only moves its timestamp or node info is
kept (it is written with the next meaningful change) but never makes a commit. A
stale copy (a lower generation and no later time than the report recorded) is
ignored. It also counts, per revision, the nodes settled on it (observing it in any
state but Progressing), so the writer sees at once when a rollout has reached every
node (`settled_on`).

Files it produces, relative to the branch root:

    nodes/<node>.yaml   one per node that ever reported
    summary.yaml        counts per state, per app (Ready/Progressing/Failed) and per
                        revision (which nodes observe it), offline nodes
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from controller.status import yamlread
from controller.status.yamltext import to_yaml
from shadow import APP_STATES, NODE_STATES, ReportedDocument

NODES_DIR = "nodes"
SUMMARY_FILE = "summary.yaml"

# Keys of a node file that change with every heartbeat: written, never a reason to commit.
VOLATILE_KEYS = ("nodeInfo", "lastReport")

# How many node names a commit subject lists per bucket before "+N more".
_NAMES_IN_SUBJECT = 5
# How many per-node lines a commit body lists.
_BODY_LINES = 50


def node_path(node: str) -> str:
    return f"{NODES_DIR}/{node}.yaml"


def dump_yaml(data: dict[str, Any]) -> str:
    return to_yaml(data)


def short(revision: str) -> str:
    return revision[:7] if revision else "-"


def node_entry(
    report: ReportedDocument, online: bool | None, key_id: str | None = None
) -> dict[str, Any]:
    """The content of `nodes/<node>.yaml` for one report (`key_id`: the node key that
    signed it, verified; None: unverified)."""
    entry: dict[str, Any] = {
        "node": report.node,
        "state": report.state,
        # A node that publishes a report is connected; its last will says otherwise.
        "online": True if online is None else online,
        "verified": key_id is not None,
        **({"keyId": key_id} if key_id is not None else {}),
        "observed": {
            "revision": report.revision,
            "generation": report.observed_generation,
            "digest": report.observed_digest,
        },
    }
    if report.message:
        entry["message"] = report.message
    apps: dict[str, Any] = {}
    for name in sorted(report.apps):
        status = report.apps[name]
        app: dict[str, Any] = {"state": status.state, "message": status.message}
        not_ready = [
            {"kind": r.kind, "namespace": r.namespace, "name": r.name, "message": r.message}
            for r in status.resources
            if not r.ready
        ]
        if not_ready:
            app["notReady"] = not_ready
        apps[name] = app
    entry["apps"] = apps
    if report.rejected:
        entry["rejected"] = [r.to_dict() for r in report.rejected]
    if report.node_info.agent:
        entry["agent"] = report.node_info.agent  # an agent update is worth a commit
    if report.agent_update is not None:
        entry["agentUpdate"] = report.agent_update.to_dict()
    entry["nodeInfo"] = report.node_info.to_dict()
    entry["lastReport"] = report.time
    return entry


def meaningful(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A node entry without the keys a heartbeat changes."""
    return {k: v for k, v in entry.items() if k not in VOLATILE_KEYS}


@dataclass(frozen=True)
class StatusChange:
    """One commit's worth: the files to write, its message, and the entries it records."""

    files: dict[str, str | None]  # None: delete the file (the node left the fleet)
    message: str
    entries: dict[str, dict[str, Any]]
    removed: tuple[str, ...] = ()

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(sorted(self.entries))


@dataclass(frozen=True)
class ChangeDraft:
    """The makings of one `StatusChange`, rendered (YAML, summary, message) by `render()`."""

    entries: dict[str, dict[str, Any]]  # the pending nodes' entries, by node
    removed: tuple[str, ...]
    everyone: list[dict[str, Any]]  # every node's entry, for the summary
    committed: dict[str, dict[str, Any]]  # what the branch records for those nodes

    def render(self) -> StatusChange:
        entries = {node: dict(entry) for node, entry in self.entries.items()}
        files: dict[str, str | None] = {
            node_path(node): dump_yaml(entry) for node, entry in entries.items()
        }
        removed = self.removed
        files.update((node_path(node), None) for node in removed)
        files[SUMMARY_FILE] = dump_yaml(summarize(self.everyone))
        message = commit_message(entries, self.committed)
        if removed:
            gone = f"{len(removed)} removed from the fleet: {_names(list(removed))}"
            subject, _, body = message.partition("\n")
            message = f"{subject}, {gone}" if subject else gone
            message += "\n" + body if body else "\n"
        return StatusChange(files, message, entries, removed)


class StatusBook:
    """Latest report per node versus what the status branch holds."""

    def __init__(self) -> None:
        self._reports: dict[str, ReportedDocument] = {}
        self._online: dict[str, bool] = {}
        self._entries: dict[str, dict[str, Any]] = {}
        self._committed: dict[str, dict[str, Any]] = {}  # meaningful parts
        self._committed_full: dict[str, dict[str, Any]] = {}
        self._pending: set[str] = set()
        self._removed: set[str] = set()  # committed nodes that left the fleet
        # revision -> how many entries observe it, settled (any state but Progressing)
        self._settled: Counter[str] = Counter()
        self.version = 0  # moves with every change of an entry (for readers' caches)

    # --- input ---------------------------------------------------------------------

    def load_committed(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """What the status branch already records (read back at start or after a fetch)."""
        self._committed = {node: meaningful(entry) for node, entry in entries.items()}
        self._committed_full = {node: dict(entry) for node, entry in entries.items()}
        for node, entry in entries.items():
            if node not in self._reports:
                loaded = dict(entry)
                if node in self._online:
                    loaded["online"] = self._online[node]
                self._put(node, loaded)
        for node in set(self._entries) | set(self._committed):
            self._refresh_pending(node)
        self.version += 1

    def record(self, report: ReportedDocument, key_id: str | None = None) -> bool:
        """Keep `report` (verified with node key `key_id`, or None) as the node's latest;
        True when the node now needs a commit."""
        if self._is_stale(report):
            return False
        self._reports[report.node] = report
        self._put(report.node, node_entry(report, self._online.get(report.node), key_id))
        self.version += 1
        return self._refresh_pending(report.node)

    def _is_stale(self, report: ReportedDocument) -> bool:
        """An older copy of what is recorded: a lower generation, and no later time. A
        broker restored from an older save hands such copies out again; the newer report
        stays (an online node sends its latest again, an offline one would be set back).
        Report times are whole seconds, so two reports a node sent within one second
        share a time: the generation alone tells them apart."""
        known = self._entries.get(report.node)
        if known is None:
            return False
        recorded = (known.get("observed") or {}).get("generation")
        observed = report.observed_generation
        lower = isinstance(recorded, int) and (observed is None or observed < recorded)
        return lower and report.time <= str(known.get("lastReport") or "")

    def set_online(self, node: str, online: bool) -> bool:
        """The node's retained online flag; True when the node now needs a commit."""
        self._online[node] = online
        entry = self._entries.get(node)
        if entry is None:  # nothing to write until the node reports
            return False
        self._put(node, {**entry, "online": online})
        self.version += 1
        return self._refresh_pending(node)

    def forget(self, nodes: Iterable[str]) -> bool:
        """Nodes that left the fleet: their files go with the next commit. True if any had one."""
        removed = False
        for node in nodes:
            self._reports.pop(node, None)
            self._online.pop(node, None)
            self._put(node, None)
            self._pending.discard(node)
            if node in self._committed:
                self._removed.add(node)
                removed = True
        return removed

    def _put(self, node: str, entry: dict[str, Any] | None) -> None:
        """Replace (None: drop) the node's entry, keeping the settled counts."""
        old = self._entries.pop(node, None) if entry is None else self._entries.get(node)
        if old is not None and (revision := _settled_revision(old)) is not None:
            self._settled[revision] -= 1
            if not self._settled[revision]:
                del self._settled[revision]
        if entry is not None:
            self._entries[node] = entry
            if (revision := _settled_revision(entry)) is not None:
                self._settled[revision] += 1

    def settled_on(self, revision: str) -> int:
        """How many nodes observe `revision` in a settled state (not Progressing)."""
        return self._settled.get(revision, 0)

    def _refresh_pending(self, node: str) -> bool:
        entry = self._entries.get(node)
        if entry is not None and meaningful(entry) != self._committed.get(node):
            self._pending.add(node)
            return True
        self._pending.discard(node)
        return False

    # --- output --------------------------------------------------------------------

    @property
    def pending(self) -> frozenset[str]:
        """Nodes whose meaningful state differs from the status branch (or that left it)."""
        return frozenset(self._pending | self._removed)

    @property
    def nodes(self) -> frozenset[str]:
        return frozenset(self._entries)

    def entry(self, node: str) -> dict[str, Any] | None:
        return self._entries.get(node)

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every node's latest entry (a new mapping; entries are replaced, never changed)."""
        return dict(self._entries)

    def changes(self) -> StatusChange | None:
        """The next commit: pending nodes' files, the summary and a message; None if none."""
        draft = self.draft()
        return None if draft is None else draft.render()

    def draft(self) -> ChangeDraft | None:
        """What `changes()` renders, taken in a moment (entries are replaced, never
        changed, so it holds them as they are): the writer takes it under its lock and
        renders the files outside, while reports keep coming in."""
        if not self._pending and not self._removed:
            return None
        entries = {node: self._entries[node] for node in sorted(self._pending)}
        return ChangeDraft(
            entries,
            tuple(sorted(self._removed)),
            list(self._entries.values()),
            {node: self._committed[node] for node in entries if node in self._committed},
        )

    def committed_files(self) -> dict[str, str]:
        """Every file as last committed, to re-apply on a status branch someone else moved.

        Changes that came in since stay pending and make their own commit afterwards,
        so each commit's message keeps describing its content.
        """
        entries = self._committed_full
        files = {node_path(node): dump_yaml(entry) for node, entry in entries.items()}
        files[SUMMARY_FILE] = dump_yaml(summarize(entries.values()))
        return files

    def mark_committed(self, change: StatusChange) -> None:
        """`change` is now on the branch; nodes that moved on since stay pending."""
        for node, entry in change.entries.items():
            self._committed[node] = meaningful(entry)
            self._committed_full[node] = dict(entry)
            self._refresh_pending(node)
        for node in change.removed:
            self._committed.pop(node, None)
            self._committed_full.pop(node, None)
            self._removed.discard(node)

    def summary(self) -> dict[str, Any]:
        return summarize(self._entries.values())

    def message(self, entries: Mapping[str, Mapping[str, Any]]) -> str:
        return commit_message(entries, self._committed)


def _settled_revision(entry: Mapping[str, Any]) -> str | None:
    """The revision an entry observes, if it is settled there (any state but Progressing)."""
    if entry.get("state") == "Progressing":
        return None
    revision = (entry.get("observed") or {}).get("revision")
    return revision if isinstance(revision, str) and revision else None


def summarize(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`summary.yaml`: counts per node state, per app and per observed revision."""
    states: Counter[str] = Counter()
    offline: list[str] = []
    apps: dict[str, dict[str, Any]] = {}
    revisions: dict[str, list[str]] = defaultdict(list)
    count = 0
    for entry in sorted(entries, key=lambda e: str(e.get("node", ""))):
        count += 1
        node = str(entry.get("node", ""))
        states[str(entry.get("state", ""))] += 1
        if not entry.get("online", True):
            offline.append(node)
        revision = str((entry.get("observed") or {}).get("revision") or "")
        revisions[revision or "none"].append(node)
        for name, app in (entry.get("apps") or {}).items():
            counts = apps.setdefault(name, {s: 0 for s in APP_STATES})
            state = str(app.get("state", ""))
            counts[state] = counts.get(state, 0) + 1
            if state != "Ready":
                counts.setdefault(state.lower(), []).append(node)
    return {
        "nodes": count,
        "states": {s: states.get(s, 0) for s in NODE_STATES},
        "offline": offline,
        "apps": {name: apps[name] for name in sorted(apps)},
        "revisions": {
            rev: {"nodes": len(names), "names": names} for rev, names in sorted(revisions.items())
        },
    }


def _problem_apps(entry: Mapping[str, Any]) -> list[str]:
    return [n for n, a in (entry.get("apps") or {}).items() if a.get("state") == "Failed"] or [
        n for n, a in (entry.get("apps") or {}).items() if a.get("state") != "Ready"
    ]


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_NAMES_IN_SUBJECT])
    more = len(items) - _NAMES_IN_SUBJECT
    return f"{shown} +{more} more" if more > 0 else shown


def commit_message(
    entries: Mapping[str, Mapping[str, Any]], committed: Mapping[str, Mapping[str, Any]]
) -> str:
    """Say what changed: "3 synced to abc1234, 1 failed: edge-07 web"."""
    synced: dict[str, int] = Counter()
    progressing: dict[str, int] = Counter()
    troubled: dict[str, list[str]] = defaultdict(list)
    offline: list[str] = []
    online_again: list[str] = []
    body: list[str] = []
    for node in sorted(entries):
        entry = entries[node]
        before = committed.get(node)
        state = str(entry.get("state"))
        revision = short(str((entry.get("observed") or {}).get("revision") or ""))
        online = bool(entry.get("online", True))
        if not online:
            offline.append(node)
        elif before is not None and before.get("online") is False:
            online_again.append(node)
        if online and state == "Synced":
            synced[revision] += 1
        elif online and state == "Progressing":
            progressing[revision] += 1
        elif online:
            apps = " ".join(_problem_apps(entry))
            troubled[state.lower()].append(f"{node} {apps}".strip())
        if len(body) < _BODY_LINES:
            was = f" (was {before.get('state')})" if before and before.get("state") != state else ""
            line = f"{node}: {state} at {revision}{was}"
            if not online:
                line += ", offline"
            problems = [
                f"{n}: {a.get('message')}"
                for n, a in (entry.get("apps") or {}).items()
                if a.get("state") != "Ready" and a.get("message")
            ]
            if problems:
                line += " - " + "; ".join(problems)
            body.append(line)
    if len(entries) > len(body):
        body.append(f"... and {len(entries) - len(body)} more")
    parts = [f"{n} synced to {rev}" for rev, n in sorted(synced.items())]
    parts += [
        f"{n} progressing to {rev}" if rev != "-" else f"{n} progressing"
        for rev, n in sorted(progressing.items())
    ]
    parts += [f"{len(items)} {state}: {_names(items)}" for state, items in sorted(troubled.items())]
    if offline:
        parts.append(f"{len(offline)} offline: {_names(offline)}")
    if online_again:
        parts.append(f"{len(online_again)} back online: {_names(online_again)}")
    return ", ".join(parts) + "\n\n" + "\n".join(body) + "\n"


def parse_entry(text: str) -> dict[str, Any] | None:
    """A committed node file, or None when it is not one (left for the next report)."""
    try:
        data: Any = yamlread.load(text)  # the controller's own files, fast
    except yamlread.NotOurs:
        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            return None
    if not isinstance(data, dict) or not isinstance(data.get("node"), str):
        return None
    return data
