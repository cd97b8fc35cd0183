"""Every served kind round-trips: applied through the DynamicClient, read back by the typed
client (whose strict models reject a response missing a required field)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, dynamic

from shoal.kubesim import KubeSim
from tests.kubesim.conftest import deployment

POD_SPEC = {"containers": [{"name": "main", "image": "busybox"}]}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": POD_SPEC}
SELECTOR = {"matchLabels": {"app": "x"}}
RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
SUBJECTS = [{"kind": "ServiceAccount", "name": "default", "namespace": "web"}]


def manifest(api_version: str, kind: str, **fields: Any) -> dict[str, Any]:
    namespaced = kind not in ("Namespace", "ClusterRole", "ClusterRoleBinding")
    metadata = {"name": "x", **({"namespace": "web"} if namespaced else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}


# kind -> (manifest, typed API class, read method)
CASES: dict[str, tuple[dict[str, Any], type, str]] = {
    "Namespace": (manifest("v1", "Namespace"), client.CoreV1Api, "read_namespace"),
    "ConfigMap": (
        manifest("v1", "ConfigMap", data={"k": "v"}),
        client.CoreV1Api,
        "read_namespaced_config_map",
    ),
    "Secret": (
        manifest("v1", "Secret", stringData={"k": "v"}, type="Opaque"),
        client.CoreV1Api,
        "read_namespaced_secret",
    ),
    "Service": (
        manifest("v1", "Service", spec={"selector": {"app": "x"}, "ports": [{"port": 80}]}),
        client.CoreV1Api,
        "read_namespaced_service",
    ),
    "ServiceAccount": (
        manifest("v1", "ServiceAccount"),
        client.CoreV1Api,
        "read_namespaced_service_account",
    ),
    "PersistentVolumeClaim": (
        manifest(
            "v1",
            "PersistentVolumeClaim",
            spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        ),
        client.CoreV1Api,
        "read_namespaced_persistent_volume_claim",
    ),
    "Pod": (manifest("v1", "Pod", spec=POD_SPEC), client.CoreV1Api, "read_namespaced_pod"),
    "Deployment": (deployment("x"), client.AppsV1Api, "read_namespaced_deployment"),
    "StatefulSet": (
        manifest(
            "apps/v1",
            "StatefulSet",
            spec={"selector": SELECTOR, "template": TEMPLATE, "serviceName": "x"},
        ),
        client.AppsV1Api,
        "read_namespaced_stateful_set",
    ),
    "DaemonSet": (
        manifest("apps/v1", "DaemonSet", spec={"selector": SELECTOR, "template": TEMPLATE}),
        client.AppsV1Api,
        "read_namespaced_daemon_set",
    ),
    "ReplicaSet": (
        manifest("apps/v1", "ReplicaSet", spec={"selector": SELECTOR, "template": TEMPLATE}),
        client.AppsV1Api,
        "read_namespaced_replica_set",
    ),
    "Job": (
        manifest(
            "batch/v1", "Job", spec={"template": {"spec": {**POD_SPEC, "restartPolicy": "Never"}}}
        ),
        client.BatchV1Api,
        "read_namespaced_job",
    ),
    "CronJob": (
        manifest(
            "batch/v1",
            "CronJob",
            spec={
                "schedule": "*/5 * * * *",
                "jobTemplate": {
                    "spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "Never"}}}
                },
            },
        ),
        client.BatchV1Api,
        "read_namespaced_cron_job",
    ),
    "Ingress": (
        manifest(
            "networking.k8s.io/v1",
            "Ingress",
            spec={"defaultBackend": {"service": {"name": "x", "port": {"number": 80}}}},
        ),
        client.NetworkingV1Api,
        "read_namespaced_ingress",
    ),
    "NetworkPolicy": (
        manifest("networking.k8s.io/v1", "NetworkPolicy", spec={"podSelector": {}}),
        client.NetworkingV1Api,
        "read_namespaced_network_policy",
    ),
    "Role": (
        manifest("rbac.authorization.k8s.io/v1", "Role", rules=RULES),
        client.RbacAuthorizationV1Api,
        "read_namespaced_role",
    ),
    "RoleBinding": (
        manifest(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
            subjects=SUBJECTS,
        ),
        client.RbacAuthorizationV1Api,
        "read_namespaced_role_binding",
    ),
    "ClusterRole": (
        manifest("rbac.authorization.k8s.io/v1", "ClusterRole", rules=RULES),
        client.RbacAuthorizationV1Api,
        "read_cluster_role",
    ),
    "ClusterRoleBinding": (
        manifest(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "x"},
            subjects=SUBJECTS,
        ),
        client.RbacAuthorizationV1Api,
        "read_cluster_role_binding",
    ),
    "PodDisruptionBudget": (
        manifest(
            "policy/v1", "PodDisruptionBudget", spec={"minAvailable": 1, "selector": SELECTOR}
        ),
        client.PolicyV1Api,
        "read_namespaced_pod_disruption_budget",
    ),
    "HorizontalPodAutoscaler": (
        manifest(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                "minReplicas": 1,
                "maxReplicas": 3,
            },
        ),
        client.AutoscalingV2Api,
        "read_namespaced_horizontal_pod_autoscaler",
    ),
}


@pytest.mark.parametrize("rolled_out", [False, True], ids=["rolling-out", "rolled-out"])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_apply_then_read_with_the_typed_client(kind: str, rolled_out: bool, tmp_path: Path) -> None:
    # Both statuses a workload shows must parse: still rolling out (an hour-long
    # rollout) and complete (an instant one).
    with KubeSim(rollout_seconds=0 if rolled_out else 3600) as sim:
        check_round_trip(kind, sim, tmp_path)


def check_round_trip(kind: str, sim: KubeSim, tmp_path: Path) -> None:
    api = sim.api_client()
    dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
    body, api_class, read = CASES[kind]
    if kind != "Namespace":
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "web"}})
    resource = dyn.resources.get(api_version=body["apiVersion"], kind=kind)
    applied = dyn.server_side_apply(resource, body=body, field_manager="shoal")
    assert applied.kind == kind and applied.metadata.uid
    args = ("x", "web") if resource.namespaced else ("x",)
    typed = getattr(api_class(api), read)(*args)
    assert typed.metadata.uid == applied.metadata.uid
    assert typed.metadata.resource_version
