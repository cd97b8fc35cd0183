"""How far one fleet revision got: the verdict `shoal wait --revision REV` polls for.

Called by `controller.commands.wait` with what it read from git (the fleet at REV,
the status branch's node files and controller.yaml). Pure: no git here; whether an
observed revision includes REV (REV itself or a later commit) is asked of `reached`.

A node of the fleet at REV is *at* REV when it observes the digest REV renders for it
(the controller re-publishes a node only when its render changes, so an untouched
node keeps its older revision), or observes a later commit (or REV, when the digest
REV renders for it is not known here) with every app that carries a revision of its
own at REV or later. The verdict:
- failed: REV is rejected (controller.yaml), a node at REV is Failed or Degraded, or a
  rollout of REV is Halted, RolledBack or Aborted;
- synced: every node is at REV and Synced, and no rollout of REV is unfinished;
- waiting: anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.status.controllerstate import FAILED_ROLLOUT_STATES, short

FAILED_NODE_STATES = ("Failed", "Degraded")


@dataclass
class RevisionProgress:
    revision: str
    nodes: list[str]  # every node that should run the revision
    synced: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # node -> what it says
    pending: dict[str, str] = field(default_factory=dict)  # node -> where it is instead
    rejected: list[str] = field(default_factory=list)  # the controller's problems with it
    rollouts: dict[str, str] = field(default_factory=dict)  # app -> state, rollouts of it

    @property
    def verdict(self) -> str:
        if self.rejected or self.failed or self.failed_rollouts:
            return "failed"
        unfinished = [app for app, state in self.rollouts.items() if state != "Complete"]
        if not self.pending and not unfinished:
            return "synced"
        return "waiting"

    @property
    def failed_rollouts(self) -> dict[str, str]:
        return {a: s for a, s in self.rollouts.items() if s in FAILED_ROLLOUT_STATES}

    def line(self, shown: int = 5) -> str:
        """`9f1c2ab: 3/5 synced; waiting for paris-gw-02 (Progressing at 9f1c2ab), ...`."""
        text = f"{short(self.revision)}: {len(self.synced)}/{len(self.nodes)} synced"
        if self.rejected:
            return f"{text}; rejected by the controller: {self.rejected[0]}"
        if self.failed:
            text += "; failed: " + _listed(self.failed, shown)
        for app, state in sorted(self.rollouts.items()):
            if state != "Complete":
                text += f"; rollout {app} {state}"
        if self.pending:
            text += "; waiting for " + _listed(self.pending, shown)
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "result": self.verdict,
            "nodes": len(self.nodes),
            "synced": sorted(self.synced),
            "failed": dict(sorted(self.failed.items())),
            "pending": dict(sorted(self.pending.items())),
            "rejected": self.rejected,
            "rollouts": dict(sorted(self.rollouts.items())),
        }


def _listed(items: Mapping[str, str], shown: int) -> str:
    names = sorted(items)
    text = ", ".join(f"{n} ({items[n]})" for n in names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def progress(
    revision: str,
    nodes: Mapping[str, str | None],
    entries: Mapping[str, Mapping[str, Any]],
    record: Mapping[str, Any] | None,
    reached: Callable[[str], bool],
) -> RevisionProgress:
    """Where `revision` stands. `nodes`: every node of the fleet at it and the digest it
    renders for that node (None: unknown); `entries`: the status branch's node files;
    `record`: controller.yaml (None: not written)."""
    found = RevisionProgress(revision, sorted(nodes))
    record = record or {}
    rejected = record.get("rejected") or {}
    if rejected.get("revision") == revision:
        found.rejected = [str(p) for p in rejected.get("problems") or ["rejected"]]
    for app, rollout in (record.get("rollouts") or {}).items():
        if rollout.get("revision") and reached(str(rollout["revision"])):
            found.rollouts[app] = str(rollout.get("state") or "Progressing")
    for node in found.nodes:
        entry = entries.get(node)
        if entry is None:
            found.pending[node] = "no report"
            continue
        state = str(entry.get("state"))
        observed = entry.get("observed") or {}
        if not at_revision(entry, revision, nodes[node], reached):
            where = f"at {short(observed.get('revision'))}"
            if observed.get("revision") == revision:
                where += " with apps held back"
            found.pending[node] = where + (", offline" if entry.get("online") is False else "")
        elif state in FAILED_NODE_STATES:
            found.failed[node] = f"{state}: {failure_message(entry)}"
        elif state == "Synced":
            found.synced.append(node)
        else:
            offline = ", offline" if entry.get("online") is False else ""
            found.pending[node] = f"{state} at {short(observed.get('revision'))}{offline}"
    return found


def at_revision(
    entry: Mapping[str, Any], revision: str, digest: str | None, reached: Callable[[str], bool]
) -> bool:
    observed = entry.get("observed") or {}
    seen = str(observed.get("revision") or "")
    if digest and observed.get("digest") == digest:
        return True
    if not seen or not reached(seen):
        return False
    if digest and seen == revision:
        return False  # REV's document, but not all of REV's render: apps held back by a rollout
    apps = (entry.get("apps") or {}).values()
    return all(reached(str(a["revision"])) for a in apps if a.get("revision"))


def failure_message(entry: Mapping[str, Any]) -> str:
    for name, app in sorted((entry.get("apps") or {}).items()):
        if app.get("state") == "Failed" and app.get("message"):
            return f"{name}: {app['message']}"
    return str(entry.get("message") or "no message")
