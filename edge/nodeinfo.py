"""What a node says about itself in every report: host, OS, CPU, Kubernetes, agent,
and when its certificate expires (so `shoal status` can warn before it does).

Read once by the agent (edge/agent.py); the Kubernetes version is asked again
until the API server has answered once (it may be down when the agent starts).
"""

from __future__ import annotations

import platform
import socket
from importlib import metadata

from shadow import NodeInfo


def agent_version() -> str:
    """The installed shoal distribution's version (the edge cannot import `shoal`)."""
    try:
        return metadata.version("shoal")
    except metadata.PackageNotFoundError:
        return "unknown"


def collect(kubernetes_version: str = "", certificate_not_after: str = "") -> NodeInfo:
    system = platform.system()
    release = platform.release()
    return NodeInfo(
        hostname=socket.gethostname(),
        os=f"{system} {release}".strip(),
        arch=platform.machine(),
        kubernetes=kubernetes_version,
        agent=agent_version(),
        certificate_not_after=certificate_not_after,
    )
