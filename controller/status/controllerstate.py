"""The controller's own state on the status branch: `controller.yaml`.

Nodes say what they run; this file says what the controller makes of the fleet
repository, so nobody has to guess why nodes stay where they are:

    seen:     {revision, time}        the newest revision the controller fetched
    served:   {revision, since}       the last good revision, the one nodes are sent
    rejected: {revision, problems, time}   only while the newest seen revision is rejected
    rollouts: {app: {...}}            what the rollout engine reports (`rollout_status`)

Called by the status writer (`ControllerRecord`: what to commit and the first lines
of the commit message), by the status service before the writer runs
(`EarlyRecord`: a rejected first revision still shows on the branch), and by
`shoal status` / `shoal wait` (`read_controller`, `headline`, `rollout_line`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from controller.gitcli import GitFailed, git
from controller.status.book import StatusChange
from controller.status.branch import StatusBranch
from controller.status.yamltext import to_yaml

log = logging.getLogger(__name__)

CONTROLLER_FILE = "controller.yaml"
# A template broken for 10,000 nodes is 10,000 problems: the file keeps the first ones.
MAX_PROBLEMS = 20
# Rollout states that end a rollout without the new revision everywhere.
FAILED_ROLLOUT_STATES = ("Halted", "RolledBack", "Aborted")
# Keys that say when, not what: never a reason for a commit on their own.
_TIME_KEYS = ("time", "since")
# How the renderer names the node of a problem: "<file:line: message> (node N, app A)".
_PER_NODE = re.compile(r"^(?P<text>.*) \(node (?P<node>[^,()]+), app (?P<app>[^()]+)\)$", re.S)
# Nodes named per grouped problem.
_NODES_NAMED = 3


@dataclass(frozen=True)
class ControllerFacts:
    """What a running controller knows of itself at one moment (no times of ours)."""

    seen: str | None
    served: str | None
    rejected: str | None = None  # the rejected revision, when it is the newest seen
    problems: tuple[str, ...] = ()
    rejected_at: float | None = None
    rollouts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def controller_facts(controller: Any) -> ControllerFacts | None:
    """Read a `Controller` (duck-typed: the status room sits below the service room);
    None before it fetched anything."""
    seen = getattr(controller, "last_revision", None)
    if not seen:
        return None
    reconciler = getattr(controller, "reconciler", None)
    served = getattr(reconciler, "last_good", None)
    error = getattr(reconciler, "last_error", None)
    rollouts: Mapping[str, Mapping[str, Any]] = {}
    provider = getattr(controller, "rollout_status", None)
    if callable(provider):
        try:
            rollouts = dict(provider() or {})
        except Exception:  # the engine's bug must not stop the status branch
            log.exception("status: the rollout engine could not say its status")
    if error is not None and error.revision == seen:
        return ControllerFacts(seen, served, seen, tuple(error.problems), error.time, rollouts)
    return ControllerFacts(seen, served, rollouts=rollouts)


def grouped(problems: tuple[str, ...] | list[str]) -> list[str]:
    """One problem per distinct message: a template broken for 200 nodes is one line
    naming how many (`... (app web, 200 nodes: a, b, c and 197 more)`), not 200."""
    groups: dict[tuple[str, str], list[str]] = {}
    for problem in problems:
        match = _PER_NODE.match(problem)
        key = (match["text"], match["app"]) if match else (problem, "")
        groups.setdefault(key, [])
        if match:
            groups[key].append(match["node"])
    out = []
    for (text, app), nodes in groups.items():
        if not nodes:
            out.append(text)
            continue
        named = ", ".join(nodes[:_NODES_NAMED])
        more = f" and {len(nodes) - _NODES_NAMED} more" if len(nodes) > _NODES_NAMED else ""
        which = f"node {named}" if len(nodes) == 1 else f"{len(nodes)} nodes: {named}{more}"
        out.append(f"{text} (app {app}, {which})")
    return out


def stamp(when: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def short(revision: object) -> str:
    return str(revision)[:7] if revision else "-"


def meaningful(record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The record without the times (a restart re-stamps them; that is no news)."""
    if not record:
        return {}
    return {
        key: (
            {k: v for k, v in value.items() if k not in _TIME_KEYS}
            if key != "rollouts" and isinstance(value, Mapping)
            else value
        )
        for key, value in record.items()
    }


def build_record(
    facts: ControllerFacts, before: Mapping[str, Any] | None, now: str
) -> dict[str, Any]:
    """controller.yaml for `facts`; times are kept from `before` while the fact holds."""
    before = before or {}

    def kept(key: str, revision: str, stamp_key: str) -> str:
        old = before.get(key) or {}
        return str(old.get(stamp_key)) if old.get("revision") == revision else now

    record: dict[str, Any] = {
        "seen": {"revision": facts.seen, "time": kept("seen", str(facts.seen), "time")}
    }
    if facts.served:
        record["served"] = {
            "revision": facts.served,
            "since": kept("served", facts.served, "since"),
        }
    elif before.get("served"):
        # Restarted on a rejected revision: nothing is good in this run, and the broker
        # still holds what the last run served.
        record["served"] = dict(before["served"])
    if facts.rejected:
        every = grouped(facts.problems) or ["rejected (no problem named)"]
        rejected: dict[str, Any] = {"revision": facts.rejected, "problems": every[:MAX_PROBLEMS]}
        if len(every) > MAX_PROBLEMS:
            rejected["moreProblems"] = len(every) - MAX_PROBLEMS
        old = before.get("rejected") or {}
        same = meaningful({"r": old}).get("r") == meaningful({"r": rejected}).get("r")
        rejected["time"] = old.get("time") if same and old.get("time") else stamp(facts.rejected_at)
        record["rejected"] = rejected
    if facts.rollouts:
        record["rollouts"] = {app: dict(facts.rollouts[app]) for app in sorted(facts.rollouts)}
    # Plain data, as it reads back from the file (tuples as lists): else what was
    # committed would never equal what is current, and the writer would commit forever.
    plain: dict[str, Any] = json.loads(json.dumps(record, default=str))
    return plain


# --- words ---------------------------------------------------------------------------


def headline(record: Mapping[str, Any]) -> str:
    """`HEAD 9f1c2ab rejected: <problem> - nodes stay on 26f825f`, or `serving 26f825f (HEAD)`."""
    seen = (record.get("seen") or {}).get("revision")
    served = (record.get("served") or {}).get("revision")
    rejected = record.get("rejected")
    if rejected:
        problems = list(rejected.get("problems") or ["rejected"])
        more = len(problems) - 1 + int(rejected.get("moreProblems") or 0)
        extra = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
        stay = (
            f"nodes stay on {short(served)}"
            if served
            else "nodes keep what the broker holds (no good revision yet)"
        )
        return f"HEAD {short(rejected.get('revision'))} rejected: {problems[0]}{extra} - {stay}"
    if served and served == seen:
        return f"serving {short(served)} (HEAD)"
    if served:
        return f"serving {short(served)}; HEAD {short(seen)} is not served yet"
    return f"HEAD {short(seen)} seen; nothing served yet"


def rollout_line(app: str, rollout: Mapping[str, Any]) -> str:
    """`rollout web: Baking, wave 2/4, 9f1c2ab (rest on 26f825f) - <decision>`."""
    parts = [str(rollout.get("state") or "?")]
    if rollout.get("waves"):
        parts.append(f"wave {rollout.get('wave', '?')}/{rollout['waves']}")
    revision = short(rollout.get("revision"))
    if rollout.get("from"):
        revision += f" (rest on {short(rollout['from'])})"
    parts.append(revision)
    decision = f" - {rollout['decision']}" if rollout.get("decision") else ""
    return f"rollout {app}: {', '.join(parts)}{decision}"


def change_lines(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """What a commit of `after` over `before` says, most important first: changed rollout
    decisions, then the headline when the revisions or the rejection changed."""
    before = before or {}
    lines = []
    old_rollouts = before.get("rollouts") or {}
    for app, rollout in (after.get("rollouts") or {}).items():
        decision = rollout.get("decision")
        if decision and decision != (old_rollouts.get(app) or {}).get("decision"):
            lines.append(str(decision))
    old, new = meaningful(before), meaningful(after)
    if any(old.get(key) != new.get(key) for key in ("seen", "served", "rejected")):
        lines.append(headline(after))
    if not lines and old != new:  # only rollout counts moved
        lines += [rollout_line(app, r) for app, r in (after.get("rollouts") or {}).items()]
    return lines or ["controller state updated"]


# --- the writer's side ---------------------------------------------------------------


class ControllerRecord:
    """controller.yaml as committed versus as the controller is now."""

    def __init__(self, facts: Callable[[], ControllerFacts | None]) -> None:
        self.facts = facts
        self.committed: dict[str, Any] | None = None
        self.current: dict[str, Any] | None = None

    def load_committed(self, text: str | None) -> None:
        self.committed = parse_record(text) if text else None

    def refresh(self) -> bool:
        """Take the controller's facts now; True when they differ from what was there."""
        try:
            facts = self.facts()
        except Exception:  # a bug on the controller's side: the nodes' status goes on
            log.exception("status: cannot read the controller's state")
            return False
        if facts is None:
            return False
        before = self.current if self.current is not None else self.committed
        record = build_record(facts, before, stamp())
        changed = meaningful(record) != meaningful(before)
        self.current = record
        return changed

    @property
    def pending(self) -> bool:
        return self.current is not None and meaningful(self.current) != meaningful(self.committed)

    def files(self) -> dict[str, str | None]:
        return {CONTROLLER_FILE: to_yaml(self.current)} if self.pending and self.current else {}

    def lines(self) -> list[str]:
        return change_lines(self.committed, self.current) if self.pending and self.current else []

    def mark_committed(self, files: Mapping[str, str | None]) -> None:
        text = files.get(CONTROLLER_FILE)
        if text:
            self.committed = parse_record(text)

    def committed_files(self) -> dict[str, str]:
        return {CONTROLLER_FILE: to_yaml(self.committed)} if self.committed else {}


def with_record(change: StatusChange | None, record: ControllerRecord) -> StatusChange | None:
    """The writer's next commit with controller.yaml in it (when it changed): the subject
    is the record's first line, then the nodes' subject (`web 1.5: wave 2/4 (50 nodes)
    healthy, baking 5m; 50 synced to 9f1c2ab`; a rejection stands alone); the record's
    other lines open the body.
    The record is as last refreshed (refresh it outside the writer's lock: the rollout
    engine answers with its own)."""
    lines = record.lines()
    if not lines:
        return change
    subject, _, body = (change.message if change else "").partition("\n")
    rest = [*lines[1:]]
    first = lines[0]
    if subject and first.startswith("HEAD "):  # a rejection says it all on its own line
        rest.append(subject)
    elif subject:
        first = f"{first}; {subject}"
    text = "\n".join([first, "", *rest, *body.strip("\n").splitlines()])
    files = {**(change.files if change else {}), **record.files()}
    entries = change.entries if change else {}
    removed = change.removed if change else ()
    return StatusChange(files, text.rstrip("\n") + "\n", entries, removed)


def read_committed(branch: StatusBranch) -> str | None:
    """controller.yaml at the tip of the writer's status branch (None: not there)."""
    head = branch.head()
    if head is None:
        return None
    try:
        return git("cat-file", "blob", f"{head}:{CONTROLLER_FILE}", repo_dir=branch.path).decode()
    except GitFailed:
        return None


# --- before the writer runs ----------------------------------------------------------


class EarlyRecord:
    """Commits controller.yaml alone while no revision was good yet (the writer needs the
    topic prefix of a good fleet.yaml): a rejected first revision still shows, with why."""

    RETRY_SECONDS = 5.0

    def __init__(
        self,
        facts: Callable[[], ControllerFacts | None],
        branch: Callable[[], StatusBranch],
    ) -> None:
        self.record = ControllerRecord(facts)
        self._branch_factory = branch
        self._branch: StatusBranch | None = None
        self._retry_at = 0.0
        self._done: ControllerFacts | None = None  # the facts last committed

    def step(self) -> str | None:
        """Commit and push controller.yaml when a rejection changed it; the new sha."""
        if time.monotonic() < self._retry_at:
            return None
        try:
            facts = self.record.facts()
        except Exception:
            log.exception("status: cannot read the controller's state")
            return None
        if facts is None or not facts.rejected or facts == self._done:
            return None
        try:
            if self._branch is None:
                branch = self._branch_factory()
                branch.open()
                self.record.load_committed(read_committed(branch))
                self._branch = branch
            self.record.refresh()
            change = with_record(None, self.record)
            sha = None
            if change is not None:
                sha = self._branch.commit(change.files, change.message)
                self._branch.push()
        except GitFailed as exc:
            log.warning("status: cannot record the rejected revision on the branch: %s", exc)
            self._branch = None  # open again (fetching the remote's tip) next time
            self._retry_at = time.monotonic() + self.RETRY_SECONDS
            return None
        self._done = facts
        if change is not None:
            self.record.mark_committed(change.files)
            log.info("status: %s %s", short(sha), change.message.splitlines()[0])
        return sha


# --- the reader's side ---------------------------------------------------------------


def parse_record(text: str) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def read_controller(repo: Path, commit: str) -> dict[str, Any] | None:
    """controller.yaml of a status commit in a clone (None: an older controller wrote it)."""
    try:
        text = git("cat-file", "blob", f"{commit}:{CONTROLLER_FILE}", cwd=repo).decode()
    except GitFailed:
        return None
    return parse_record(text)
