"""What the controllers would write into `status`: rollouts that finish on a timer.

There are no controllers and no pods here. Instead, every workload (Deployment,
StatefulSet, DaemonSet, ReplicaSet) reports a rollout in progress from its last
spec change until `rollout_seconds` later, then complete; a Job runs for that long
and then succeeds. `status_for` computes the status a kind should show `elapsed`
seconds after its last spec change; `store.py` calls it whenever it reads an
object (so no background thread is needed) and writes the result back, with a new
resourceVersion, only when it changed — the way a controller's status update would.
"""

from __future__ import annotations

from typing import Any


def _condition(kind: str, status: bool, reason: str, message: str, when: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "lastUpdateTime": when,
        "lastTransitionTime": when,
        "reason": reason,
        "message": message,
    }


def _replicas(obj: dict[str, Any]) -> int:
    value = obj.get("spec", {}).get("replicas", 1)
    return value if isinstance(value, int) else 1


def _deployment(obj: dict[str, Any], ready: bool, when: str) -> dict[str, Any]:
    name, n = obj["metadata"]["name"], _replicas(obj)
    status: dict[str, Any] = {"observedGeneration": obj["metadata"].get("generation", 1)}
    if ready:
        if n:
            status |= {
                "replicas": n,
                "updatedReplicas": n,
                "readyReplicas": n,
                "availableReplicas": n,
            }
        status["conditions"] = [
            _condition(
                "Available",
                True,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                when,
            ),
            _condition(
                "Progressing",
                True,
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
                when,
            ),
        ]
    else:
        if n:
            status |= {"replicas": n, "unavailableReplicas": n}
        status["conditions"] = [
            _condition(
                "Available",
                False,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                when,
            ),
            _condition(
                "Progressing",
                True,
                "ReplicaSetUpdated",
                f'ReplicaSet "{name}" is progressing.',
                when,
            ),
        ]
    return status


def _statefulset(obj: dict[str, Any], ready: bool, when: str) -> dict[str, Any]:
    n = _replicas(obj)
    revision = f"{obj['metadata']['name']}-{obj['metadata'].get('generation', 1)}"
    status: dict[str, Any] = {
        "observedGeneration": obj["metadata"].get("generation", 1),
        "replicas": n,
        "updateRevision": revision,
        "collisionCount": 0,
        "availableReplicas": n if ready else 0,
    }
    if ready:
        status |= {
            "readyReplicas": n,
            "currentReplicas": n,
            "updatedReplicas": n,
            "currentRevision": revision,
        }
    return status


def _daemonset(obj: dict[str, Any], ready: bool, when: str) -> dict[str, Any]:
    # One simulated node: a DaemonSet wants exactly one pod.
    status: dict[str, Any] = {
        "observedGeneration": obj["metadata"].get("generation", 1),
        "desiredNumberScheduled": 1,
        "currentNumberScheduled": 1,
        "numberMisscheduled": 0,
        "numberReady": 1 if ready else 0,
    }
    if ready:
        status |= {"updatedNumberScheduled": 1, "numberAvailable": 1}
    else:
        status["numberUnavailable"] = 1
    return status


def _replicaset(obj: dict[str, Any], ready: bool, when: str) -> dict[str, Any]:
    n = _replicas(obj)
    status: dict[str, Any] = {
        "observedGeneration": obj["metadata"].get("generation", 1),
        "replicas": n,
        "fullyLabeledReplicas": n,
    }
    if ready and n:
        status |= {"readyReplicas": n, "availableReplicas": n}
    return status


def _job(obj: dict[str, Any], ready: bool, when: str) -> dict[str, Any]:
    started = obj["metadata"].get("creationTimestamp", when)
    if not ready:
        return {"startTime": started, "active": 1, "ready": 0, "terminating": 0}
    return {
        "startTime": started,
        "completionTime": when,
        "succeeded": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            {
                **_condition(
                    "SuccessCriteriaMet",
                    True,
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    when,
                ),
                "lastProbeTime": when,
            },
            {
                **_condition(
                    "Complete",
                    True,
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    when,
                ),
                "lastProbeTime": when,
            },
        ],
    }


def _pod(obj: dict[str, Any], ready: bool, when: str) -> dict[str, Any]:
    if not ready:
        return {"phase": "Pending", "qosClass": "BestEffort"}
    return {
        "phase": "Running",
        "qosClass": "BestEffort",
        "startTime": obj["metadata"].get("creationTimestamp", when),
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": when, "lastProbeTime": None}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
    }


def _pvc(obj: dict[str, Any], ready: bool, when: str) -> dict[str, Any]:
    if not ready:
        return {"phase": "Pending"}
    storage = obj.get("spec", {}).get("resources", {}).get("requests", {}).get("storage", "1Gi")
    modes = obj.get("spec", {}).get("accessModes", ["ReadWriteOnce"])
    return {"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}}


_STATUS = {
    ("apps/v1", "Deployment"): _deployment,
    ("apps/v1", "StatefulSet"): _statefulset,
    ("apps/v1", "DaemonSet"): _daemonset,
    ("apps/v1", "ReplicaSet"): _replicaset,
    ("batch/v1", "Job"): _job,
    ("v1", "Pod"): _pod,
    ("v1", "PersistentVolumeClaim"): _pvc,
}

# Statuses that do not move with time: written once, at creation.
_FIXED: dict[tuple[str, str], dict[str, Any]] = {
    ("v1", "Namespace"): {"phase": "Active"},
    ("v1", "Service"): {"loadBalancer": {}},
    ("batch/v1", "CronJob"): {},
    ("networking.k8s.io/v1", "Ingress"): {"loadBalancer": {}},
}


def has_rollout(api_version: str, kind: str) -> bool:
    return (api_version, kind) in _STATUS


def initial_status(api_version: str, kind: str) -> dict[str, Any] | None:
    fixed = _FIXED.get((api_version, kind))
    return dict(fixed) if fixed is not None else None


def progress_deadline(obj: dict[str, Any]) -> float | None:
    """Seconds a Deployment may roll out before it reports ProgressDeadlineExceeded."""
    if (obj.get("apiVersion"), obj.get("kind")) != ("apps/v1", "Deployment"):
        return None
    value = (obj.get("spec") or {}).get("progressDeadlineSeconds", 600)
    return float(value) if isinstance(value, int | float) else 600.0


def status_for(
    obj: dict[str, Any], ready: bool, when: str, stalled: bool = False
) -> dict[str, Any] | None:
    """The status `obj` shows, ready or still rolling out; None for kinds without one.

    `when` is the timestamp written into conditions that change now. `stalled`: a
    Deployment past its progressDeadlineSeconds (a held rollout) says so.
    """
    compute = _STATUS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if compute is None:
        return None
    status = compute(obj, ready, when)
    if stalled and not ready and obj.get("kind") == "Deployment":
        name = obj["metadata"]["name"]
        status["conditions"] = [
            c
            if c["type"] != "Progressing"
            else _condition(
                "Progressing",
                False,
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{name}" has timed out progressing.',
                when,
            )
            for c in status["conditions"]
        ]
    return status
