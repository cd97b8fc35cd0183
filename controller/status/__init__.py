"""Reported state back into git: the status branch.

Edges publish what they observed on `<prefix>/nodes/<node>/reported`; the
`StatusWriter` (started by `shoal controller`) keeps the latest report per node and
commits the meaningful changes to the status branch (default `shoal-status`): one
file per node, `nodes/<node>.yaml`, and a `summary.yaml`. `StatusBook` is the pure
part (reports -> files + commit message); `StatusBranch` is the git part;
`shoal status` reads what they wrote.
"""

from controller.status.book import NODES_DIR, SUMMARY_FILE, StatusBook, StatusChange
from controller.status.branch import StatusBranch
from controller.status.expected import ExpectedFleet, expected_fleet
from controller.status.reading import FleetStatus, fetch_status, read_status
from controller.status.service import StatusService
from controller.status.writer import DEFAULT_BRANCH, DEFAULT_INTERVAL, StatusWriter

__all__ = [
    "DEFAULT_BRANCH",
    "DEFAULT_INTERVAL",
    "NODES_DIR",
    "SUMMARY_FILE",
    "ExpectedFleet",
    "FleetStatus",
    "StatusBook",
    "StatusBranch",
    "StatusChange",
    "StatusService",
    "StatusWriter",
    "expected_fleet",
    "fetch_status",
    "read_status",
]
