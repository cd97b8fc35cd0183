"""Build Reported documents the way an edge would, for status tests and benchmarks."""

from __future__ import annotations

from shadow import AppStatus, NodeInfo, ReportedDocument, ResourceStatus


def report(
    node: str,
    state: str = "Synced",
    revision: str = "a" * 40,
    generation: int = 1,
    apps: dict[str, str] | None = None,
    message: str = "",
    time: str = "2026-11-25T00:00:00Z",
    hostname: str = "",
    digest: str = "sha256:" + "0" * 64,
) -> ReportedDocument:
    """A report for `node`; `apps` maps app name to state (a failed app gets a message)."""
    statuses = {}
    for name, app_state in (apps if apps is not None else {"web": "Ready"}).items():
        ready = app_state == "Ready"
        statuses[name] = AppStatus(
            state=app_state,  # type: ignore[arg-type]
            message="" if ready else f"{name}: ImagePullBackOff",
            resources=(
                ResourceStatus(
                    "Deployment", name, name, ready, "" if ready else "0/1 replicas ready"
                ),
            ),
        )
    return ReportedDocument(
        node=node,
        observed_generation=generation,
        observed_digest=digest,
        revision=revision,
        state=state,  # type: ignore[arg-type]
        apps=statuses,
        node_info=NodeInfo(hostname=hostname or node, agent="test"),
        time=time,
        message=message,
    )
