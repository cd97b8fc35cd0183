"""Where the dashboard's facts come from: `FleetState`, read-only.

`ControllerState` reads a running `Controller` and its status service: the revision
served (with its fleet model and rendered apps), the branch head last fetched, the
rejected commit, the edges' latest reports (committed to the status branch or not
yet) and the two git directories (the fleet's clone, the status branch) that history
is read from. The benchmark gives the dashboard a `FleetState` of its own making.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from controller.render.incremental import Baseline
    from controller.service.controller import Controller
    from controller.service.reconciler import RevisionError


@dataclass(frozen=True)
class StatusCounts:
    """The status writer's own counts, for /metrics."""

    commits: int = 0
    push_failures: int = 0
    reports_rejected: int = 0


class FleetState(Protocol):
    """What the dashboard reads; every method is cheap and never blocks on the network."""

    branch: str  # the fleet branch followed
    status_branch: str | None  # None: reports are not written to git (--no-status)

    def served(self) -> Baseline | None: ...
    def branch_head(self) -> str | None: ...
    def rejected(self) -> RevisionError | None: ...
    def reports(self) -> tuple[int, dict[str, dict[str, Any]]]: ...
    def fleet_dir(self) -> Path | None: ...
    def status_dir(self) -> Path | None: ...
    def status_counts(self) -> StatusCounts: ...


class ControllerState:
    """A `FleetState` over a running controller and its `StatusService` (or None)."""

    def __init__(self, controller: Controller, status: Any | None) -> None:
        self.controller = controller
        self.status = status
        self.branch = controller.settings.branch
        self.status_branch = status.branch if status is not None else None

    def served(self) -> Baseline | None:
        return self.controller.reconciler.served

    def branch_head(self) -> str | None:
        return self.controller.last_revision

    def rejected(self) -> RevisionError | None:
        return self.controller.reconciler.last_error

    def reports(self) -> tuple[int, dict[str, dict[str, Any]]]:
        writer = self.status.writer if self.status is not None else None
        if writer is None:
            return 0, {}
        return writer.snapshot()  # type: ignore[no-any-return]

    def fleet_dir(self) -> Path | None:
        path: Path = self.controller.source.repo_dir
        return path if (path / "HEAD").exists() else None

    def status_dir(self) -> Path | None:
        writer = self.status.writer if self.status is not None else None
        if writer is None:
            return None
        path: Path = writer.branch.path
        return path if (path / "HEAD").exists() else None

    def status_counts(self) -> StatusCounts:
        writer = self.status.writer if self.status is not None else None
        if writer is None:
            return StatusCounts()
        return StatusCounts(writer.commits, writer.push_failures, writer.rejected)
