"""The status writer: edge reports from MQTT into commits on the status branch.

Started by `shoal controller` (unless `--no-status`). It has its own MQTT client,
subscribed to `<prefix>/nodes/+/reported` and `<prefix>/nodes/+/online`; the broker
hands it every retained report on (re)connect, which is how a restart loses nothing.
Reports go into a `StatusBook`; a background thread commits the pending ones to the
`StatusBranch` and pushes:

- at most one commit per `interval`; within that, it waits for a short quiet spell
  so a fleet converging over a few seconds lands as one commit, not hundreds;
- except the report that completes a rollout: when every node of the fleet is settled
  on the same revision (observing it, not Progressing), that commit is made at once
  (once per revision), so the record of a finished rollout does not wait out the
  interval;
- only meaningful changes make a commit (see `controller.status.book`);
- a failed push is retried (with the commits kept locally) until it succeeds; a
  rejected one is re-applied on the remote's new tip.

It also commits the controller's own state, `controller.yaml` (the revision it serves,
a rejected one, its rollouts; `controller.status.controllerstate`), looked at every second.

Every payload goes through `controller.status.intake` first, which never raises: a
report over the limits, malformed, or whose `node` differs from the node in its topic
(the identity the broker's ACL vouches for) is refused and counted; one from a node
not in the fleet (`known_nodes`) is counted and never written. A node that leaves the
fleet has its file removed with the next commit. A failure to commit never loses a
report: it is retried, and what the book cannot turn into a file is isolated to its node.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.gitcli import GitFailed
from controller.status.book import StatusBook, StatusChange
from controller.status.branch import PushRejected, StatusBranch
from controller.status.controllerstate import ControllerRecord, read_committed, with_record
from controller.status.intake import Intake
from controller.status.verification import NodeKeys, ReportVerifier
from shadow import DEFAULT_PREFIX, Topics
from transport import BrokerOptions, make_client

log = logging.getLogger(__name__)

DEFAULT_BRANCH = "shoal-status"
DEFAULT_INTERVAL = 10.0

# A burst of reports is over when none came for this long (capped by the interval).
QUIET_SECONDS = 0.5
# Re-apply attempts when pushes keep losing races, per flush.
PUSH_ATTEMPTS = 5
# Longest wait between retries of an unreachable remote.
MAX_RETRY_SECONDS = 60.0


class StatusWriter:
    """`start()`, `flush()`, `stop()`; reports arrive over MQTT, commits leave over git."""

    def __init__(
        self,
        options: BrokerOptions,
        repo_url: str,
        work_dir: Path,
        *,
        branch: str = DEFAULT_BRANCH,
        topic_prefix: str = DEFAULT_PREFIX,
        interval: float = DEFAULT_INTERVAL,
        known_nodes: Callable[[], frozenset[str] | None] = lambda: None,
        count_error: Callable[[str], None] = lambda kind: None,
        controller_state: Callable[[], Any] = lambda: None,
        node_keys: Callable[[], NodeKeys | None] = lambda: None,
    ) -> None:
        self.options = options
        self.topics = Topics(topic_prefix)
        self.known_nodes = known_nodes
        # Reports are verified against the node keys git records (status/verification.py).
        self.intake = Intake(self.topics, known_nodes, count_error, ReportVerifier(node_keys))
        self._fleet: frozenset[str] | None = None  # the membership last applied to the book
        self.interval = max(0.0, interval)
        self.book = StatusBook()
        self.controller = ControllerRecord(controller_state)  # controller.yaml
        self.branch = StatusBranch(repo_url, Path(work_dir) / "status-branch", branch)
        self.subscribed = threading.Event()
        self.last_commit: str | None = None
        self.rejected = 0
        self.commits = 0  # status commits made (for /metrics)
        self.push_failures = 0  # pushes that failed (unreachable remote, refused)
        # The last git failure, until a push goes through again (shown by /healthz).
        self.last_error: str | None = None
        self._failures = 0
        self._lock = threading.Lock()  # guards the book
        self._git_lock = threading.Lock()  # one git operation sequence at a time
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._opened = False
        self._push_due = False
        self._retry_at = 0.0
        self._retry_delay = 1.0
        self._last_commit_at = float("-inf")
        self._first_pending_at: float | None = None
        # The last revision every node settled on (committed at once, see the docstring).
        self._completed: str | None = None
        self._complete_due = False
        self._last_change_at = 0.0
        self._thread: threading.Thread | None = None
        self._client: Any = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Open the status branch (retried in the background if git is unreachable),
        connect to the broker and start committing."""
        self._open_branch()
        client = make_client(self.options, f"shoal-status-{uuid.uuid4().hex[:8]}")
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.connect_async(self.options.host, self.options.port, self.options.keepalive)
        client.loop_start()
        self._client = client
        self._thread = threading.Thread(target=self._run, name="status-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening, commit and push what is pending (once), and stop."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        try:
            self.flush()
        except GitFailed as exc:
            log.warning("status: could not write the last status before stopping: %s", exc)

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return self.subscribed.wait(timeout)

    def snapshot(self) -> tuple[int, dict[str, dict[str, Any]]]:
        """(version, every node's latest entry): what the edges reported, committed or not
        (the dashboard reads it; the version moves with every change)."""
        with self._lock:
            return self.book.version, self.book.entries()

    @property
    def settled(self) -> bool:
        """Everything received is committed and pushed."""
        with self._lock:
            pending = bool(self.book.pending) or self.controller.pending
        return not pending and not self._push_due

    # --- MQTT side -------------------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("status: broker %s refused the connection: %s", self.options.url, reason)
            return
        client.subscribe(
            [(self.topics.all_nodes("reported"), 1), (self.topics.all_nodes("online"), 1)]
        )
        self.subscribed.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.receive(message.topic, bytes(message.payload))

    def receive(self, topic: str, payload: bytes) -> bool:
        """Take one message; True when it makes a change. Never raises (paho's thread)."""
        taken = self.intake.take(topic, payload)
        if taken.verdict in ("refused", "unknown"):
            self.rejected += 1
        if taken.verdict not in ("report", "online"):
            return False
        try:
            with self._lock:
                if taken.report is not None:
                    changed = self.book.record(taken.report, taken.key_id)
                    if changed and self._completes(taken.report.revision):
                        self._complete_due = True
                        self._wake.set()
                else:
                    changed = self.book.set_online(taken.node, bool(taken.online))
        except Exception as exc:  # a bug: isolate it to this message
            log.exception("status: cannot record the message on %s", topic)
            self.intake.counts["failed"] += 1
            self.intake.last_failure = f"{topic}: {type(exc).__name__}: {exc}"
            return False
        if changed:
            self._changed()
        return changed

    def _completes(self, revision: str) -> bool:
        """Does the book now hold every node of the fleet settled on `revision` (for the
        first time)? Under `self._lock`."""
        fleet = self.known_nodes()
        if not fleet or revision == self._completed:
            return False
        if self.book.settled_on(revision) < len(fleet):
            return False
        self._completed = revision
        return True

    def receive_report(self, node: str, payload: bytes) -> bool:
        """Take one report payload from `node`'s topic; True when it makes a change."""
        return self.receive(self.topics.reported(node), payload)

    def apply_membership(self) -> None:
        """Follow the fleet: forget nodes that left it (their files go with the next commit)."""
        fleet = self.known_nodes()
        if fleet is None or fleet is self._fleet:
            return
        before, self._fleet = self._fleet, fleet
        with self._lock:
            gone = [node for node in self.book.nodes | self.book.pending if node not in fleet]
            changed = self.book.forget(gone)
        # Joined: new in the fleet, or (on the first look) reported while not in it. Nodes
        # refused before the first look keep their refusal.
        joined = fleet - before if before is not None else fleet & self.intake.unknown_nodes()
        self.intake.forget(frozenset(gone) | joined)
        if gone:
            log.info("status: %d nodes left the fleet: their status files go", len(gone))
        if changed:
            self._changed()

    def health_fields(self) -> dict[str, Any]:
        """What /healthz shows about intake (see `controller.status.intake`)."""
        return self.intake.health()

    def _changed(self) -> None:
        now = time.monotonic()
        self._last_change_at = now
        if self._first_pending_at is None:
            self._first_pending_at = now
            # Only the first change wakes the writer: later ones can only move the commit
            # later, which the writer sees when it wakes at the time it computed (10,000
            # reports would otherwise wake it 10,000 times).
            self._wake.set()

    # --- git side --------------------------------------------------------------------

    def _open_branch(self) -> bool:
        with self._git_lock:
            if self._opened:
                return True
            try:
                entries = self.branch.open()
                self._push_due = self.branch.ahead()
            except GitFailed as exc:
                self._schedule_retry(f"cannot open the status branch: {exc}")
                return False
            with self._lock:
                self.book.load_committed(entries)
            self.controller.load_committed(read_committed(self.branch))
            self._fleet = None  # the branch may hold nodes that left the fleet meanwhile
            self._opened = True
            self._retry_delay = 1.0
            log.info(
                "status: writing to branch %s of %s (%d nodes recorded)",
                self.branch.branch,
                self.branch.repo_url,
                len(entries),
            )
            return True

    def _schedule_retry(self, why: str) -> None:
        log.warning("status: %s; retrying in %.0fs", why, self._retry_delay)
        self._failures += 1
        self.last_error = why
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_SECONDS)

    def _due(self, now: float) -> float | None:
        """Seconds until the next commit is due (0 = now), or None when nothing is pending."""
        if self._first_pending_at is None:
            with self._lock:
                if not self.book.pending and not self.controller.pending:
                    return None
            self._first_pending_at = now
        if self._complete_due:
            return 0.0  # a rollout reached every node: record it now
        quiet = min(QUIET_SECONDS, self.interval)
        settle = min(
            self._last_change_at + quiet,
            self._first_pending_at + max(self.interval, quiet),
        )
        return max(0.0, self._last_commit_at + self.interval - now, settle - now)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception as exc:  # never let the writer thread die
                log.exception("status: unexpected error in the writer loop")
                self._schedule_retry(f"unexpected error: {exc}")

    def _step(self) -> None:
        """One turn of the writer loop: open, follow the fleet, commit or push, or wait."""
        if self._opened:
            self.apply_membership()
            if self.controller.refresh():
                self._changed()
        now = time.monotonic()
        wait = 1.0  # the controller's state (controller.yaml) is looked at this often
        if now < self._retry_at:
            wait = self._retry_at - now
        elif not self._opened:
            self._open_branch()
            return
        else:
            due = self._due(now)
            if due == 0.0:
                self._flush_quietly()
                return
            if self._push_due:
                self._push_quietly()
                return
            if due is not None:
                wait = due
        self._wake.wait(wait)
        self._wake.clear()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except GitFailed as exc:
            self._schedule_retry(str(exc))
        except Exception as exc:  # a disk error, say: never let the writer thread die
            log.exception("status: unexpected error while committing")
            self._schedule_retry(f"unexpected error: {exc}")

    def _push_quietly(self) -> None:
        try:
            with self._git_lock:
                self._push()
        except GitFailed as exc:
            self._schedule_retry(f"push to {self.branch.repo_url} failed: {exc}")
        except Exception as exc:
            log.exception("status: unexpected error while pushing")
            self._schedule_retry(f"unexpected error: {exc}")

    def flush(self) -> str | None:
        """Commit what is pending now and push; the new commit's sha, or None if none.

        Raises `GitFailed` when git fails; the commit (if made) is kept and
        pushed on a later try.
        """
        if not self._open_branch():
            raise GitFailed("the status branch is not open yet")
        with self._git_lock:
            started = time.monotonic()
            self.controller.refresh()  # not under self._lock: it asks the controller
            with self._lock:  # a moment only: the files are rendered outside it
                draft = self.book.draft()
                self._first_pending_at = None
                self._complete_due = False
            change = with_record(draft.render() if draft is not None else None, self.controller)
            sha = None
            if change is not None:
                sha = self.branch.commit(change.files, change.message)
                self._committed(change)
                # The interval runs from the start of a commit: at most one per interval.
                self._last_commit_at = started
                if sha is not None:
                    self.last_commit = sha
                    self.commits += 1
                    self._push_due = True
                    log.info(
                        "status: %s %s (%d node%s, %.2fs)",
                        sha[:7],
                        change.message.splitlines()[0],
                        len(change.entries),
                        "" if len(change.entries) == 1 else "s",
                        time.monotonic() - started,
                    )
            if self._push_due:
                self._push()
            return sha

    def _committed(self, change: StatusChange) -> None:
        with self._lock:
            self.book.mark_committed(change)
        self.controller.mark_committed(change.files)

    def _push(self) -> None:
        """Push, re-applying on the remote's new tip when someone else pushed first."""
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                self.branch.push()
            except PushRejected:
                log.info("status: the status branch moved on the remote; re-applying (%d)", attempt)
                self._reapply()
                continue
            except GitFailed:
                self.push_failures += 1
                raise
            self._push_due = False
            self._retry_delay = 1.0
            if self._failures:
                log.info(
                    "status: pushed to %s again after %d failed attempts",
                    self.branch.repo_url,
                    self._failures,
                )
            self._failures = 0
            self.last_error = None
            return
        raise GitFailed(f"push still rejected after {PUSH_ATTEMPTS} re-applies")

    def _reapply(self) -> None:
        subjects = self.branch.unpushed_subjects()
        with self._lock:
            files = self.book.committed_files()
        files.update(self.controller.committed_files())
        message = subjects[0] if len(subjects) == 1 else f"{len(subjects)} status updates"
        if not subjects:
            message = "status re-applied on the new tip"
        body = "\n".join(subjects) if len(subjects) > 1 else ""
        sha = self.branch.reapply(files, f"{message}\n\n{body}".strip() + "\n")
        if sha is not None:
            self.last_commit = sha
