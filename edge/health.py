"""Health: is one live object ready, and what does that make its app and the node.

Called by the reconciler (edge/reconciler.py) after every apply and while anything
is progressing. Rules:
- Deployment, StatefulSet, DaemonSet: ready once the rollout of the current spec
  is complete (observedGeneration caught up, every replica updated, ready and
  available); a Deployment past its progress deadline has failed.
- Job: ready when it succeeded, failed when its Failed condition is true.
- Any other kind: ready when it exists.
App: Failed if an object failed (to apply, or its rollout), else Ready when every
object is ready, else Progressing. Node: Synced when every app is Ready; Failed
when the document could not be applied or every app failed; Degraded when some
apps failed and others did not; Progressing otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shadow import AppState, AppStatus, NodeState, ResourceStatus


@dataclass(frozen=True)
class Health:
    ready: bool
    failed: bool = False
    message: str = ""


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in status.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def _stale(obj: Mapping[str, Any]) -> bool:
    """The workload controller has not seen the current spec yet."""
    generation = _int((obj.get("metadata") or {}).get("generation"), 0)
    observed = _int((obj.get("status") or {}).get("observedGeneration"), -1)
    return observed < generation


def _deployment(obj: Mapping[str, Any]) -> Health:
    status = obj.get("status") or {}
    progressing = _condition(status, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(False, True, f"rollout stuck: {progressing.get('message') or 'deadline'}")
    if _stale(obj):
        return Health(False, message="waiting for the rollout to start")
    want = _int((obj.get("spec") or {}).get("replicas"), 1)
    updated = _int(status.get("updatedReplicas"))
    ready = _int(status.get("readyReplicas"))
    available = _int(status.get("availableReplicas"))
    total = _int(status.get("replicas"))
    if updated < want:
        return Health(False, message=f"{updated}/{want} replicas updated")
    if total > updated:
        return Health(False, message=f"{total - updated} old replicas pending termination")
    if ready < want or available < want:
        return Health(False, message=f"{min(ready, available)}/{want} replicas ready")
    return Health(True)


def _statefulset(obj: Mapping[str, Any]) -> Health:
    status = obj.get("status") or {}
    if _stale(obj):
        return Health(False, message="waiting for the rollout to start")
    want = _int((obj.get("spec") or {}).get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    updated = _int(status.get("updatedReplicas"), ready)
    if updated < want:
        return Health(False, message=f"{updated}/{want} replicas updated")
    if ready < want:
        return Health(False, message=f"{ready}/{want} replicas ready")
    current, update = status.get("currentRevision"), status.get("updateRevision")
    if current and update and current != update:
        return Health(False, message="rolling update in progress")
    return Health(True)


def _daemonset(obj: Mapping[str, Any]) -> Health:
    status = obj.get("status") or {}
    if _stale(obj):
        return Health(False, message="waiting for the rollout to start")
    want = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    available = _int(status.get("numberAvailable"))
    if updated < want:
        return Health(False, message=f"{updated}/{want} pods updated")
    if available < want:
        return Health(False, message=f"{available}/{want} pods available")
    return Health(True)


def _job(obj: Mapping[str, Any]) -> Health:
    status = obj.get("status") or {}
    failed = _condition(status, "Failed")
    if failed and failed.get("status") == "True":
        return Health(False, True, f"job failed: {failed.get('message') or failed.get('reason')}")
    complete = _condition(status, "Complete")
    completions = _int((obj.get("spec") or {}).get("completions"), 1)
    if (complete and complete.get("status") == "True") or _int(
        status.get("succeeded")
    ) >= completions:
        return Health(True)
    return Health(False, message=f"{_int(status.get('succeeded'))}/{completions} completions")


_BY_KIND = {
    "Deployment": _deployment,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "Job": _job,
}


def object_health(obj: Mapping[str, Any] | None) -> Health:
    """The health of one live object (None: it does not exist)."""
    if obj is None:
        return Health(False, message="not found")
    check = _BY_KIND.get(str(obj.get("kind")))
    return check(obj) if check else Health(True)


def app_status(resources: list[ResourceStatus], failures: dict[str, str]) -> AppStatus:
    """Summarise an app; `failures` maps "Kind ns/name" to why it failed."""
    state: AppState
    if failures:
        state = "Failed"
        first = next(iter(failures.items()))
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        message = f"{first[0]}: {first[1]}{more}"
    elif all(r.ready for r in resources):
        state, message = "Ready", ""
    else:
        state = "Progressing"
        waiting = [r for r in resources if not r.ready]
        first_r = waiting[0]
        where = f"{first_r.namespace}/{first_r.name}" if first_r.namespace else first_r.name
        message = f"{first_r.kind} {where}: {first_r.message or 'not ready'}"
        if len(waiting) > 1:
            message += f" (and {len(waiting) - 1} more)"
    return AppStatus(state, message, tuple(resources))


def node_state(apps: Mapping[str, AppStatus], failure: str = "") -> tuple[NodeState, str]:
    """The node's state and a one-line message, from its apps and a document-level failure."""
    if failure:
        return "Failed", failure
    failed = sorted(name for name, app in apps.items() if app.state == "Failed")
    if failed and len(failed) == len(apps):
        return "Failed", f"every app failed: {', '.join(failed)}"
    if failed:
        return "Degraded", f"failed apps: {', '.join(failed)}"
    progressing = sorted(name for name, app in apps.items() if app.state == "Progressing")
    if progressing:
        return "Progressing", f"waiting for: {', '.join(progressing)}"
    return "Synced", ""
