"""Server-side apply through the DynamicClient, as the edge agent applies manifests."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, dynamic

from shoal.kubesim import KubeSim
from tests.kubesim.conftest import config_map, deployment


@pytest.fixture
def deployments(dyn: dynamic.DynamicClient, core: client.CoreV1Api):
    core.create_namespace({"metadata": {"name": "web"}})
    return dyn.resources.get(api_version="apps/v1", kind="Deployment")


def test_apply_creates_a_missing_object(sim: KubeSim, dyn, deployments) -> None:
    created = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    assert created.metadata.generation == 1
    assert created.metadata.uid and created.metadata.creationTimestamp
    managers = [(m.manager, m.operation) for m in created.metadata.managedFields]
    assert managers == [("shoal", "Apply")]
    stored = sim.get("apps/v1", "Deployment", "web", "web")
    assert stored is not None and stored["spec"]["replicas"] == 2


def test_apply_updates_and_bumps_generation_and_resource_version(dyn, deployments) -> None:
    first = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    second = dyn.server_side_apply(
        deployments, body=deployment(image="nginx:1.28"), field_manager="shoal"
    )
    assert second.metadata.generation == 2
    assert int(second.metadata.resourceVersion) > int(first.metadata.resourceVersion)
    assert second.spec.template.spec.containers[0].image == "nginx:1.28"


def test_label_change_bumps_resource_version_but_not_generation(dyn, deployments) -> None:
    first = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    body = deployment()
    body["metadata"]["labels"]["tier"] = "front"
    second = dyn.server_side_apply(deployments, body=body, field_manager="shoal")
    assert second.metadata.generation == 1
    assert second.to_dict()["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert second.metadata.resourceVersion != first.metadata.resourceVersion


def test_reapplying_the_same_manifest_writes_nothing(dyn, deployments) -> None:
    first = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    again = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    assert again.metadata.resourceVersion == first.metadata.resourceVersion
    assert again.metadata.generation == 1


def test_a_field_dropped_from_the_manifest_is_removed(dyn, core) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    config_maps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    dyn.server_side_apply(
        config_maps, body=config_map("settings", mode="fast", level="3"), field_manager="shoal"
    )
    updated = dyn.server_side_apply(
        config_maps, body=config_map("settings", mode="fast"), field_manager="shoal"
    )
    assert updated.to_dict()["data"] == {"mode": "fast"}


def test_apply_without_field_manager_is_refused(api: client.ApiClient, deployments) -> None:
    # DynamicClient always sends one; ask through the raw client.
    request = api.param_serialize(
        "PATCH",
        "/apis/apps/v1/namespaces/web/deployments/web",
        header_params={"Content-Type": "application/apply-patch+yaml"},
        body=deployment(),
    )
    response = api.call_api(*request)
    status = json.loads(response.read())
    assert response.status == 422
    assert status["reason"] == "Invalid"
    assert "fieldManager: Required value" in status["message"]


def test_another_managers_field_is_a_conflict_unless_forced(sim: KubeSim, dyn, deployments) -> None:
    dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    sim.modify("apps/v1", "Deployment", "web", "web", lambda d: d["spec"].update(replicas=5))
    with pytest.raises(dynamic.exceptions.ConflictError) as caught:
        dyn.server_side_apply(deployments, body=deployment(replicas=2), field_manager="shoal")
    status = json.loads(caught.value.body)
    assert status["reason"] == "Conflict"
    assert status["message"].startswith(
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1 at '
    )
    assert status["message"].endswith(": .spec.replicas")
    assert status["details"]["causes"][0]["field"] == ".spec.replicas"
    forced = dyn.server_side_apply(
        deployments, body=deployment(replicas=2), field_manager="shoal", force_conflicts=True
    )
    assert forced.spec.replicas == 2
    owners = {m["manager"]: m["fieldsV1"] for m in forced.to_dict()["metadata"]["managedFields"]}
    assert "f:replicas" in owners["shoal"]["f:spec"]


def test_apply_with_the_wrong_kind_for_the_url_is_a_bad_request(dyn, deployments) -> None:
    body = deployment()
    body["kind"] = "StatefulSet"
    with pytest.raises(dynamic.exceptions.BadRequestError):
        dyn.server_side_apply(deployments, body=body, field_manager="shoal")


def test_apply_a_cluster_scoped_kind(sim: KubeSim, dyn) -> None:
    roles = dyn.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole")
    body = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    dyn.server_side_apply(roles, body=body, field_manager="shoal")
    stored = sim.get("rbac.authorization.k8s.io/v1", "ClusterRole", "reader")
    assert stored is not None and "namespace" not in stored["metadata"]


def test_containers_merge_by_name_between_managers(sim: KubeSim, dyn, deployments) -> None:
    dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    # Another applier adds an env var to the same container, and a sidecar.
    extra = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "web"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "env": [{"name": "MODE", "value": "debug"}]},
                        {"name": "sidecar", "image": "envoy:1"},
                    ]
                }
            }
        },
    }
    dyn.server_side_apply(deployments, body=extra, field_manager="injector")
    # shoal's own manifest, re-applied with a new image, keeps what the other one owns.
    again = dyn.server_side_apply(
        deployments, body=deployment(image="nginx:1.28"), field_manager="shoal"
    )
    containers = {c["name"]: c for c in again.to_dict()["spec"]["template"]["spec"]["containers"]}
    assert set(containers) == {"web", "sidecar"}
    assert containers["web"]["image"] == "nginx:1.28"
    assert containers["web"]["env"] == [{"name": "MODE", "value": "debug"}]
    fields = {m["manager"]: m["fieldsV1"] for m in again.to_dict()["metadata"]["managedFields"]}
    web = fields["shoal"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert set(web) == {".", "f:name", "f:image"}


def test_a_conflict_inside_a_container_names_the_container(sim: KubeSim, dyn, deployments) -> None:
    dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")

    def set_image(d: dict) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:hotfix"

    sim.modify("apps/v1", "Deployment", "web", "web", set_image)
    with pytest.raises(dynamic.exceptions.ConflictError) as caught:
        dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    status = json.loads(caught.value.body)
    assert status["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": status["details"]["causes"][0]["message"],
            "field": '.spec.template.spec.containers[name="web"].image',
        }
    ]


def test_a_container_dropped_from_the_manifest_is_removed(dyn, deployments) -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"].append({"name": "old", "image": "busybox"})
    dyn.server_side_apply(deployments, body=body, field_manager="shoal")
    again = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    names = [c.name for c in again.spec.template.spec.containers]
    assert names == ["web"]


def test_every_list_a_strategic_merge_keys_is_shared_by_appliers_too(
    sim: KubeSim, dyn, deployments
) -> None:
    # hostAliases merge by ip (patchMergeKey and listMapKey in Kubernetes' types): an
    # alias another applier adds survives shoal's next apply, as a patch would keep it.
    def with_alias(ip: str) -> dict:
        body = deployment()
        body["spec"]["template"]["spec"]["hostAliases"] = [{"ip": ip, "hostnames": ["db"]}]
        return body

    dyn.server_side_apply(deployments, body=with_alias("10.0.0.1"), field_manager="shoal")
    extra = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "web"},
        "spec": {"template": {"spec": {"hostAliases": [{"ip": "10.0.0.2", "hostnames": ["x"]}]}}},
    }
    dyn.server_side_apply(deployments, body=extra, field_manager="injector")
    again = dyn.server_side_apply(deployments, body=with_alias("10.0.0.1"), field_manager="shoal")
    aliases = again.to_dict()["spec"]["template"]["spec"]["hostAliases"]
    assert sorted(a["ip"] for a in aliases) == ["10.0.0.1", "10.0.0.2"]


def test_an_apply_body_in_yaml_or_json_is_read_alike(api: client.ApiClient, core) -> None:
    """Clients send apply bodies as JSON (which is YAML); kubectl users may send YAML."""
    core.create_namespace({"metadata": {"name": "web"}})
    path = "/api/v1/namespaces/web/configmaps/{}?fieldManager=me"
    bodies = {
        "as-yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: as-yaml}\ndata: {n: '1'}\n",
        "as-json": json.dumps(config_map("as-json", n="1")),
        "bad": "{not json: [",
    }
    answers = {}
    for name, body in bodies.items():
        headers = {"Content-Type": "application/apply-patch+yaml"}
        request = api.param_serialize("PATCH", path.format(name), header_params=headers, body=body)
        response = api.call_api(*request)
        answers[name] = (response.status, json.loads(response.read()))
    assert answers["as-yaml"][0] == answers["as-json"][0] == 201
    assert answers["as-yaml"][1]["data"] == answers["as-json"][1]["data"] == {"n": "1"}
    assert answers["bad"][0] == 400
    assert "error decoding YAML" in answers["bad"][1]["message"]
