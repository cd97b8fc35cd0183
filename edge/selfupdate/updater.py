"""The running agent's side of an update: install the release its document names, then
hand over to the supervisor.

The agent's worker (edge/agent.py) calls `consider(release)` for every document it holds
and `healthy()` once it is connected, has re-applied the node's document and sent a report.
`consider` installs in a thread of its own (the agent keeps applying and reporting); when
the install is complete it records a trial, selects the new version and sets `restart`,
on which `shoal edge` stops the agent and exits with `RESTART_EXIT` for the supervisor
(edge/selfupdate/supervisor.py) to start the new one. `status()` is what the next report
says about it (`agentUpdate`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from edge.selfupdate.agentdir import ENV, AgentDir, UpdateRecord, power_cut
from edge.selfupdate.installer import UpdateFailed, install
from shadow import AgentRelease, AgentUpdate

log = logging.getLogger(__name__)

RESTART_EXIT = 75  # "start me again": the selection changed (EX_TEMPFAIL)


class Updater:
    def __init__(self, agent_dir: AgentDir, running: str) -> None:
        self.agent_dir = agent_dir
        self.running = running
        self.restart = threading.Event()
        self._lock = threading.Lock()
        self._installing: AgentRelease | None = None
        self._reported_health = False
        self.on_change: Callable[[], None] = lambda: None  # the agent wakes to report

    def status(self) -> AgentUpdate | None:
        with self._lock:
            if self._installing is not None:
                return AgentUpdate(self._installing.version, "installing")
        record = self.agent_dir.record()
        if record is None or record.state == "trial":
            return None  # a trial is this agent itself; its health decides, not a report
        return AgentUpdate(record.version, record.state, record.reason)

    def consider(self, release: AgentRelease | None) -> None:
        """Start updating to `release` unless it runs already, failed already, or is underway."""
        record = self.agent_dir.record()
        if release is None or release.version == self.running:
            if record is not None and record.state != "trial":
                self.agent_dir.write_record(None)  # git went back to what runs: old news
            return
        refused = record is not None and record.state in ("failed", "reverted")
        if (
            refused
            and record
            and (record.version, record.sha256) == (release.version, release.sha256)
        ):
            return  # tried and refused: wait for a new commit
        with self._lock:
            if self._installing is not None or self.restart.is_set():
                return
            self._installing = release
        self.on_change()
        threading.Thread(
            target=self._install, args=(release,), name="shoal-agent-update", daemon=True
        ).start()

    def healthy(self) -> None:
        """This agent is connected, re-applied the node's document and sent a report."""
        if self._reported_health:
            return
        self._reported_health = True
        record = self.agent_dir.record()
        if record is not None and record.state == "trial" and record.version == self.running:
            power_cut("trial")  # the new agent runs, but is not yet known to be healthy
        self.agent_dir.write_healthy(self.running, os.getpid())

    def _install(self, release: AgentRelease) -> None:
        log.info("updating the agent from %s to %s", self.running, release.version)
        try:
            prefix = install(release, self.agent_dir)
        except UpdateFailed as exc:
            self._fail(release, str(exc))
            return
        except Exception as exc:  # a bug must not take the running agent with it
            log.exception("unexpected error while installing agent %s", release.version)
            self._fail(release, f"unexpected error while installing: {exc}")
            return
        power_cut("complete")
        previous = self.agent_dir.selected()
        self.agent_dir.write_record(
            UpdateRecord(
                state="trial",
                version=release.version,
                sha256=release.sha256,
                previous=str(previous) if previous is not None else "",
                previous_version=self.running,
                timeout=release.health_timeout,
            )
        )
        self.agent_dir.clear_healthy()
        power_cut("recorded")
        self.agent_dir.select(prefix)
        power_cut("selected")
        log.info("agent %s installed in %s; restarting into it", release.version, prefix)
        with self._lock:
            self._installing = None
        self.restart.set()

    def _fail(self, release: AgentRelease, reason: str) -> None:
        log.error("agent update to %s failed: %s", release.version, reason)
        self.agent_dir.write_record(
            UpdateRecord("failed", release.version, release.sha256, reason=reason)
        )
        with self._lock:
            self._installing = None
        self.on_change()


def from_environment(running: str) -> Updater | None:
    """The updater when a supervisor started this agent (it sets the agent dir), else None."""
    root = os.environ.get(ENV)
    if not root:
        return None
    if sys.platform != "linux":
        log.warning("self-update runs on Linux only; ignoring SHOAL_AGENT_DIR")
        return None
    return Updater(AgentDir(Path(root)), running)
