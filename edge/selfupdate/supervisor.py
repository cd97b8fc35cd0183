"""`shoal edge --self-update`: keep one agent version running, and every update reversible.

The supervisor is deliberately small and is never updated over the air itself (like an
init system): it starts the selected agent (edge/selfupdate/agentdir.py) as its child with
the same flags, forwards SIGTERM, and restarts it when it exits. Around an update:

- the child exits with RESTART_EXIT after selecting a new version: start the new one;
- the update record says `trial`: the new child has the release's health timeout to write
  `health.json` (connected, document re-applied, report sent). Then the update is done:
  the record goes and old versions but the previous one are removed. If the child exits
  first, or the deadline passes, the supervisor records `reverted` with the reason,
  selects the previous version and starts it; that agent reports the reason;
- a record and a selection that disagree (a power cut between two steps) are put right
  before anything starts: a trial whose version is not selected never started.

Started by edge/cli.py; `kill -9` of the whole process group is a power cut, and each
step in between leaves a complete version selected.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from edge.selfupdate.agentdir import ENV, AgentDir, UpdateRecord, power_cut
from edge.selfupdate.updater import RESTART_EXIT

log = logging.getLogger(__name__)

CRASH_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


class Supervisor:
    def __init__(self, agent_dir: AgentDir, child_args: Sequence[str]) -> None:
        self.agent_dir = agent_dir
        self.child_args = list(child_args)
        self._stop = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)

    def stop(self) -> None:
        self._stop.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        self.agent_dir.make()
        self._settle()
        crashes = 0
        while not self._stop.is_set():
            record = self.agent_dir.record()
            trial = record if record is not None and record.state == "trial" else None
            code, healthy = self._run_child(trial)
            if self._stop.is_set():
                return 0
            if trial is not None and not healthy:
                why = (
                    f"agent {trial.version} did not become healthy within {trial.timeout}s"
                    if code is None
                    else f"agent {trial.version} exited with code {code} before it was healthy"
                )
                last = self._last_error()
                self._revert(trial, f"{why}: {last}" if last else why)
                crashes = 0
                continue
            if code == RESTART_EXIT:
                crashes = 0
                continue
            if code is None:
                continue
            delay = CRASH_BACKOFF[min(crashes, len(CRASH_BACKOFF) - 1)]
            crashes += 1
            log.warning("the agent exited with code %s; starting it again in %.0fs", code, delay)
            if self._stop.wait(delay):
                return 0
        return 0

    # --- one child ---------------------------------------------------------------------

    def _run_child(self, trial: UpdateRecord | None) -> tuple[int | None, bool]:
        """Run the selected agent until it exits (its code) or a trial's deadline (None)."""
        prefix = self.agent_dir.selected()
        command = [*self.agent_dir.program(prefix), "edge", *self.child_args]
        env = {**os.environ, ENV: str(self.agent_dir.root)}
        self._stderr_tail.clear()
        log.info("starting agent %s", "from " + str(prefix) if prefix else "(as installed)")
        child = subprocess.Popen(
            command, env=env, stderr=subprocess.PIPE, preexec_fn=_die_with_parent
        )
        self._child = child
        forward = threading.Thread(target=self._forward, args=(child,), daemon=True)
        forward.start()
        deadline = time.monotonic() + trial.timeout if trial is not None else None
        healthy = False
        try:
            while True:
                code = child.poll()
                if code is not None:
                    forward.join(5)
                    return code, healthy
                if trial is not None and not healthy:
                    healthy = self._is_healthy(trial, child.pid)
                    if healthy:
                        power_cut("healthy")
                        self._commit(trial)
                    elif deadline is not None and time.monotonic() > deadline:
                        _terminate(child)
                        forward.join(5)
                        return None, False
                self._stop.wait(0.2)
                if self._stop.is_set():
                    _terminate(child)
                    return child.returncode, healthy
        finally:
            self._child = None

    def _forward(self, child: subprocess.Popen[bytes]) -> None:
        assert child.stderr is not None
        for raw in child.stderr:
            line = raw.decode("utf-8", "replace")
            sys.stderr.write(line)
            sys.stderr.flush()
            if line.strip():
                self._stderr_tail.append(line.strip())

    def _last_error(self) -> str:
        lines = [line for line in self._stderr_tail if "Traceback" not in line]
        return lines[-1][:300] if lines else ""

    def _is_healthy(self, trial: UpdateRecord, pid: int) -> bool:
        health = self.agent_dir.healthy()
        return bool(health and health.get("version") == trial.version and health.get("pid") == pid)

    # --- the update record ---------------------------------------------------------------

    def _commit(self, trial: UpdateRecord) -> None:
        log.info("agent %s is healthy: the update is complete", trial.version)
        self.agent_dir.write_record(None)
        keep = {p for p in (self.agent_dir.selected(), _path(trial.previous)) if p is not None}
        self.agent_dir.prune(keep)

    def _revert(self, trial: UpdateRecord, reason: str) -> None:
        log.error("%s; going back to agent %s", reason, trial.previous_version or "as installed")
        self.agent_dir.write_record(replace(trial, state="reverted", reason=reason))
        power_cut("reverting")
        self.agent_dir.select(_path(trial.previous))

    def _settle(self) -> None:
        """Make the record and the selection agree after a power cut between two steps."""
        self.agent_dir.remove_unfinished()
        record = self.agent_dir.record()
        selected = self.agent_dir.selected()
        if selected is not None and not (selected / "bin" / "python").exists():
            log.error("the selected agent %s is missing; going back to the installed one", selected)
            self.agent_dir.select(None)
            selected = None
        if record is None:
            return
        if record.state == "trial" and selected != self.agent_dir.versions / record.version:
            self.agent_dir.write_record(None)  # the switch never happened: nothing to try
        elif record.state == "reverted" and selected == self.agent_dir.versions / record.version:
            self.agent_dir.select(_path(record.previous))  # the revert was cut short


def _path(text: str) -> Path | None:
    return Path(text) if text else None


def _terminate(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(20)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _die_with_parent() -> None:
    """The child never outlives the supervisor (Linux: PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
