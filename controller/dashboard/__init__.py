"""The fleet dashboard: read-only pages of the running controller's `--http` endpoint.

A room above `service | review | status`: it reads the controller (the revision
served, the rejected commit, the fleet model), the status writer's latest reports and
the status branch's history, and turns them into HTML pages (`/`, `/apps/<app>`,
`/nodes/<node>`, `/revisions/<sha>`) with its own small static files. It also adds
the fleet's gauges (nodes by state, report lag) to the controller's metrics.
`shoal controller` (controller/commands/run.py) builds a `Dashboard` and hands it to
the controller's HTTP server; nothing on it changes the fleet.
"""

from controller.dashboard.handler import Dashboard
from controller.dashboard.source import ControllerState, FleetState

__all__ = ["ControllerState", "Dashboard", "FleetState"]
