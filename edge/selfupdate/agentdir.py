"""The agent dir (`<state-dir>/agent`): installed versions, the selection, the update record.

    versions/<version>/   one virtualenv per installed release; `.complete` is written
                          last, so a folder without it is a half-made install, removed
    downloads/            wheels, checked against their sha256 before use
    current               symlink to the virtualenv that runs; absent: the agent the
                          supervisor itself was installed as
    update.json           the update in progress or the last one that did not complete
    health.json           written by a new agent once it is healthy (version and pid)

Read and written by the supervisor and the updater; each write is atomic
(`transport.atomicfile`, or a symlink created aside and renamed over the old one).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from transport.atomicfile import replace_atomically, sync_folder

ENV = "SHOAL_AGENT_DIR"  # set by the supervisor for its child: "you may update yourself"
COMPLETE = ".complete"
POWER_CUT_ENV = "SHOAL_TEST_POWER_CUT"  # tests: the step at which the whole agent dies


def power_cut(step: str) -> None:
    """A `kill -9` of the supervisor and its child at `step`, when a test asks for one.

    The fault suite sets SHOAL_TEST_POWER_CUT to each step of the switch-over in turn and
    checks that the node comes back on one complete version."""
    if os.environ.get(POWER_CUT_ENV) == step:
        os.killpg(0, signal.SIGKILL)


@dataclass(frozen=True)
class UpdateRecord:
    """`update.json`. `state`: trial, failed or reverted (a completed update leaves none)."""

    state: str
    version: str
    sha256: str = ""
    previous: str = ""  # the prefix that ran before a trial ("" = the supervisor's own install)
    previous_version: str = ""
    timeout: int = 120
    reason: str = ""


class AgentDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions = self.root / "versions"
        self.downloads = self.root / "downloads"
        self.current = self.root / "current"
        self.record_file = self.root / "update.json"
        self.health_file = self.root / "health.json"

    def make(self) -> AgentDir:
        for folder in (self.root, self.versions, self.downloads):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    # --- the selection ---------------------------------------------------------------------

    def selected(self) -> Path | None:
        """The prefix of the virtualenv to run, or None for the supervisor's own install."""
        if not self.current.is_symlink():
            return None
        return Path(os.readlink(self.current))

    def select(self, prefix: Path | None) -> None:
        """Point `current` at `prefix` (None: back to the supervisor's own install)."""
        if prefix is None:
            self.current.unlink(missing_ok=True)
        else:
            aside = self.root / f".current.{os.getpid()}"
            aside.unlink(missing_ok=True)
            aside.symlink_to(prefix)
            os.replace(aside, self.current)
        sync_folder(self.root)

    @staticmethod
    def program(prefix: Path | None) -> list[str]:
        """How to start the agent installed at `prefix` (None: this interpreter's)."""
        python = sys.executable if prefix is None else str(prefix / "bin" / "python")
        return [python, "-I", "-m", "shoal"]  # -I: never the current folder's modules

    # --- installed versions ----------------------------------------------------------------

    def installed(self, version: str, sha256: str) -> Path | None:
        prefix = self.versions / version
        marker = prefix / COMPLETE
        if marker.is_file() and marker.read_text().strip() == sha256:
            return prefix
        return None

    def remove_unfinished(self) -> None:
        """Delete version folders an interrupted install left without `.complete`."""
        if not self.versions.is_dir():
            return
        for folder in self.versions.iterdir():
            if folder.is_dir() and not (folder / COMPLETE).is_file():
                shutil.rmtree(folder, ignore_errors=True)
        for part in self.downloads.glob("*.part*") if self.downloads.is_dir() else ():
            part.unlink(missing_ok=True)

    def prune(self, keep: set[Path]) -> None:
        """Delete installed versions other than `keep` (the running one and its previous)."""
        keep = {p.resolve() for p in keep}
        for folder in self.versions.iterdir() if self.versions.is_dir() else ():
            if folder.resolve() not in keep:
                shutil.rmtree(folder, ignore_errors=True)

    # --- the record and the health file ----------------------------------------------------

    def record(self) -> UpdateRecord | None:
        data = _read_json(self.record_file)
        if data is None:
            return None
        try:
            return UpdateRecord(
                **{k: data[k] for k in UpdateRecord.__dataclass_fields__ if k in data}
            )
        except TypeError:
            return None

    def write_record(self, record: UpdateRecord | None) -> None:
        if record is None:
            self.record_file.unlink(missing_ok=True)
            sync_folder(self.root)
        else:
            replace_atomically(self.record_file, json.dumps(asdict(record), indent=2).encode())

    def healthy(self) -> dict[str, Any] | None:
        return _read_json(self.health_file)

    def write_healthy(self, version: str, pid: int) -> None:
        replace_atomically(self.health_file, json.dumps({"version": version, "pid": pid}).encode())

    def clear_healthy(self) -> None:
        self.health_file.unlink(missing_ok=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
