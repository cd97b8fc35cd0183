"""Readiness by kind, and how objects add up to an app's and a node's state."""

from __future__ import annotations

from typing import Any

from edge.health import app_status, node_state, object_health
from shadow import AppStatus, ResourceStatus


def _deployment(generation: int, observed: int, **status: int) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"generation": generation},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": observed, **status},
    }


def test_a_deployment_is_ready_when_its_rollout_completed() -> None:
    done = _deployment(3, 3, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    assert object_health(done).ready
    stale = _deployment(4, 3, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    assert not object_health(stale).ready
    half = _deployment(3, 3, replicas=2, updatedReplicas=2, readyReplicas=1, availableReplicas=1)
    assert object_health(half).message == "1/2 replicas ready"
    old = _deployment(3, 3, replicas=3, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    assert not object_health(old).ready


def test_a_deployment_past_its_deadline_failed() -> None:
    stuck = _deployment(1, 1)
    stuck["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    ]
    health = object_health(stuck)
    assert health.failed and not health.ready


def test_statefulsets_daemonsets_and_jobs() -> None:
    sts = {
        "kind": "StatefulSet",
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1},
    }
    assert object_health(sts).ready
    ds = {
        "kind": "DaemonSet",
        "metadata": {"generation": 2},
        "status": {
            "observedGeneration": 2,
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert object_health(ds).message == "2/3 pods available"
    job = {"kind": "Job", "spec": {}, "status": {"succeeded": 1}}
    assert object_health(job).ready
    failed = {"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    assert object_health(failed).failed


def test_other_kinds_are_ready_when_present() -> None:
    assert object_health({"kind": "ConfigMap"}).ready
    assert object_health(None).message == "not found"


def test_app_and_node_states() -> None:
    ok = ResourceStatus("ConfigMap", "web", "a", True)
    waiting = ResourceStatus("Deployment", "web", "web", False, "0/1 replicas ready")
    assert app_status([ok], {}).state == "Ready"
    progressing = app_status([ok, waiting], {})
    assert progressing.state == "Progressing"
    assert progressing.message == "Deployment web/web: 0/1 replicas ready"
    failed = app_status([ok], {"ConfigMap web/b": "forbidden"})
    assert (failed.state, failed.message) == ("Failed", "ConfigMap web/b: forbidden")

    ready, fail = AppStatus("Ready"), AppStatus("Failed", "x")
    assert node_state({"a": ready, "b": ready}) == ("Synced", "")
    assert node_state({"a": ready, "b": fail})[0] == "Degraded"
    assert node_state({"a": fail})[0] == "Failed"
    assert node_state({"a": ready, "b": AppStatus("Progressing")})[0] == "Progressing"
    assert node_state({}, failure="cannot reach the API") == ("Failed", "cannot reach the API")
    assert node_state({}) == ("Synced", "")
