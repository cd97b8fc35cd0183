"""Create, read, replace, patch and delete through the typed clients, with the real errors."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from shoal.kubesim import KubeSim
from shoal.kubesim.store import APPLY, MERGE
from tests.kubesim.conftest import config_map, deployment


@pytest.fixture(autouse=True)
def web(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "web"}})


def status_of(exc: ApiException) -> dict:
    status = json.loads(exc.body)
    assert (status["kind"], status["apiVersion"], status["status"]) == ("Status", "v1", "Failure")
    assert status["code"] == exc.status
    return status


def test_create_twice_is_already_exists(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("web", config_map("settings", mode="fast"))
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("web", config_map("settings", mode="slow"))
    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (409, "AlreadyExists")
    assert status["message"] == 'configmaps "settings" already exists'
    assert core.read_namespaced_config_map("settings", "web").data == {"mode": "fast"}


def test_missing_object_is_not_found_with_group_in_the_message(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        apps.read_namespaced_deployment("ghost", "web")
    status = status_of(caught.value)
    assert status["reason"] == "NotFound"
    assert status["message"] == 'deployments.apps "ghost" not found'
    assert status["details"] == {"name": "ghost", "group": "apps", "kind": "deployments"}


def test_every_write_takes_a_new_resource_version(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map("web", config_map("a", x="1"))
    second = core.create_namespaced_config_map("web", config_map("b", x="1"))
    third = core.patch_namespaced_config_map("a", "web", {"data": {"x": "2"}})
    versions = [int(o.metadata.resource_version) for o in (first, second, third)]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert first.metadata.generation is None, "ConfigMaps carry no generation, as on a real server"


def test_replace_with_a_stale_resource_version_is_a_conflict(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("web", config_map("settings", mode="fast"))
    body = created.to_dict(serialize=True)
    body["data"] = {"mode": "slow"}
    replaced = core.replace_namespaced_config_map("settings", "web", body)
    assert replaced.data == {"mode": "slow"}
    body["data"] = {"mode": "stale"}  # still carries the first resourceVersion
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("settings", "web", body)
    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (409, "Conflict")
    assert "the object has been modified" in status["message"]


def test_replace_bumps_generation_only_for_spec_changes(apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment("web", deployment())
    body = created.to_dict(serialize=True)
    body["metadata"]["annotations"] = {"note": "hello"}
    annotated = apps.replace_namespaced_deployment("web", "web", body)
    assert annotated.metadata.generation == 1
    body = annotated.to_dict(serialize=True)
    body["spec"]["replicas"] = 4
    scaled = apps.replace_namespaced_deployment("web", "web", body)
    assert scaled.metadata.generation == 2


def test_merge_patch_removes_keys_set_to_null(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("web", config_map("settings", a="1", b="2"))
    patched = core.patch_namespaced_config_map(
        "settings",
        "web",
        {"data": {"a": None, "c": "3"}},
        _content_type="application/merge-patch+json",
    )
    assert patched.data == {"b": "2", "c": "3"}


def test_strategic_merge_patch_merges_containers_by_name(apps: client.AppsV1Api) -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy"})
    apps.create_namespaced_deployment("web", body)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}}
    patched = apps.patch_namespaced_deployment("web", "web", patch)  # strategic by default
    images = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert images == {"web": "nginx:2", "sidecar": "envoy"}


def test_json_patch_operations(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("web", config_map("settings", a="1"))
    patched = core.patch_namespaced_config_map(
        "settings",
        "web",
        [
            {"op": "add", "path": "/data/b", "value": "2"},
            {"op": "replace", "path": "/data/a", "value": "one"},
            {"op": "test", "path": "/data/b", "value": "2"},
        ],
    )
    assert patched.data == {"a": "one", "b": "2"}
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map(
            "settings", "web", [{"op": "test", "path": "/data/a", "value": "1"}]
        )
    assert caught.value.status == 422


def test_delete_answers_a_success_status(sim: KubeSim, core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("web", config_map("settings"))
    status = core.delete_namespaced_config_map("settings", "web", propagation_policy="Background")
    assert (status["kind"], status["status"]) == ("Status", "Success")
    assert status["details"]["name"] == "settings"
    assert status["details"]["uid"] == created.metadata.uid
    assert sim.get("v1", "ConfigMap", "settings", "web") is None
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map("settings", "web")
    assert caught.value.status == 404


def test_foreground_delete_answers_the_object(dyn: dynamic.DynamicClient) -> None:
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    dyn.create(deployments, body=deployment())
    answer = dyn.delete(deployments, "web", "web", propagation_policy="Foreground")
    assert answer.kind == "Deployment" and answer.metadata.deletionTimestamp


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=front", {"a", "b"}),
        ("tier==front", {"a", "b"}),
        ("tier!=front", {"c", "d"}),
        ("tier in (front,back)", {"a", "b", "c"}),
        ("tier notin (front)", {"c", "d"}),
        ("tier", {"a", "b", "c"}),
        ("!tier", {"d"}),
        ("tier=front,zone=eu", {"a"}),
        ("tier in (front),!zone", {"b"}),
    ],
)
def test_label_selectors(core: client.CoreV1Api, selector: str, expected: set[str]) -> None:
    for name, labels in {
        "a": {"tier": "front", "zone": "eu"},
        "b": {"tier": "front"},
        "c": {"tier": "back"},
        "d": {},
    }.items():
        core.create_namespaced_config_map("web", config_map(name, labels=labels))
    found = core.list_namespaced_config_map("web", label_selector=selector).items
    assert {cm.metadata.name for cm in found} - {"kube-root-ca.crt"} == expected


def test_malformed_label_selector_is_a_bad_request(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map("web", label_selector="tier in front")
    assert caught.value.status == 400


def test_field_selector_by_name_and_list_across_namespaces(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "api"}})
    core.create_namespaced_config_map("web", config_map("settings"))
    core.create_namespaced_config_map("api", config_map("settings", "api"))
    everywhere = core.list_config_map_for_all_namespaces(field_selector="metadata.name=settings")
    assert sorted(cm.metadata.namespace for cm in everywhere.items) == ["api", "web"]
    one = core.list_namespaced_config_map("web", field_selector="metadata.name=settings")
    assert [cm.metadata.name for cm in one.items] == ["settings"]


def test_list_pages_with_limit_and_continue(core: client.CoreV1Api) -> None:
    for index in range(5):
        core.create_namespaced_config_map("web", config_map(f"cm-{index}", labels={"p": "y"}))
    first = core.list_namespaced_config_map("web", label_selector="p=y", limit=2)
    assert len(first.items) == 2 and first.metadata.remaining_item_count == 3
    names = [cm.metadata.name for cm in first.items]
    token = first.metadata.var_continue
    while token:
        page = core.list_namespaced_config_map(
            "web", label_selector="p=y", limit=2, _continue=token
        )
        names += [cm.metadata.name for cm in page.items]
        token = page.metadata.var_continue
    assert names == [f"cm-{i}" for i in range(5)]


def test_list_items_omit_kind_like_the_real_server(api: client.ApiClient, core) -> None:
    # DynamicClient fills kind back in; a client reading raw JSON must not rely on it.
    core.create_namespaced_config_map("web", config_map("settings"))
    response = api.call_api(*api.param_serialize("GET", "/api/v1/namespaces/web/configmaps"))
    listing = json.loads(response.read())
    assert (listing["kind"], listing["apiVersion"]) == ("ConfigMapList", "v1")
    assert listing["items"] and all("kind" not in item for item in listing["items"])


def test_invalid_manifests_are_refused_with_the_field(apps: client.AppsV1Api, core) -> None:
    body = deployment()
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment("web", body)
    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith('Deployment.apps "web" is invalid: ')
    assert status["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("web", config_map("Bad_Name"))
    assert "RFC 1123" in status_of(caught.value)["message"]


def test_delete_collection_by_label(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("web", config_map("a", labels={"app": "x"}))
    core.create_namespaced_config_map("web", config_map("b", labels={"app": "y"}))
    core.delete_collection_namespaced_config_map("web", label_selector="app=x")
    left = {cm.metadata.name for cm in core.list_namespaced_config_map("web").items}
    assert left == {"b", "kube-root-ca.crt"}


def test_status_subresource_changes_only_status(core: client.CoreV1Api) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    created = core.create_namespaced_service("web", service)
    assert created.spec.type == "ClusterIP" and created.spec.ports[0].protocol == "TCP"
    patch = {
        "spec": {"type": "NodePort"},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}},
    }
    patched = core.patch_namespaced_service_status("web", "web", patch)
    assert patched.status.load_balancer.ingress[0].ip == "10.0.0.1"
    assert patched.spec.type == "ClusterIP", "a write to /status leaves the spec alone"
    respec = core.patch_namespaced_service("web", "web", {"status": {"loadBalancer": {}}})
    assert respec.status.load_balancer.ingress[0].ip == "10.0.0.1", "and the reverse"


def test_dry_run_checks_and_answers_without_storing(sim: KubeSim, core: client.CoreV1Api) -> None:
    answer = core.create_namespaced_config_map("web", config_map("settings"), dry_run="All")
    assert answer.metadata.name == "settings"
    assert sim.get("v1", "ConfigMap", "settings", "web") is None
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("ghost", config_map("settings", "ghost"), dry_run="All")
    assert caught.value.status == 404
    core.create_namespaced_config_map("web", config_map("settings", a="1"))
    core.patch_namespaced_config_map("settings", "web", {"data": {"a": "2"}}, dry_run="All")
    core.delete_namespaced_config_map("settings", "web", dry_run="All")
    stored = sim.get("v1", "ConfigMap", "settings", "web")
    assert stored is not None and stored["data"] == {"a": "1"}


def test_apply_through_the_typed_client(apps: client.AppsV1Api) -> None:
    applied = apps.patch_namespaced_deployment(
        "web",
        "web",
        deployment(),
        field_manager="shoal",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    assert applied.metadata.managed_fields[0].manager == "shoal"
    assert applied.metadata.managed_fields[0].operation == "Apply"


def test_a_number_where_a_string_belongs_is_refused_like_the_real_decoder(
    dyn: dynamic.DynamicClient,
) -> None:
    # The typed client would refuse it before sending; the DynamicClient sends anything.
    body = config_map("settings")
    body["data"] = {"port": 8080}
    resource = dyn.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(dynamic.exceptions.BadRequestError) as caught:
        dyn.create(resource, body=body)
    status = json.loads(caught.value.body)
    assert status["reason"] == "BadRequest"
    assert (
        "cannot unmarshal number into Go struct field ConfigMap.data of type string"
        in (status["message"])
    )


def test_apply_with_a_wrong_type_names_the_field(dyn: dynamic.DynamicClient) -> None:
    body = config_map("settings", labels={"replicas": 3})
    body["data"] = {"debug": True}
    resource = dyn.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(dynamic.exceptions.DynamicApiError) as caught:
        dyn.server_side_apply(resource, body=body, field_manager="shoal")
    message = json.loads(caught.value.body)["message"]
    assert message.startswith(
        "failed to create typed patch object (web/settings; /v1, Kind=ConfigMap)"
    )
    assert ".metadata.labels.replicas: expected string" in message
    assert ".data.debug: expected string, got &value.valueUnstructured{Value:true}" in message


def test_secret_string_data_is_stored_base64_encoded(core: client.CoreV1Api) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "token"},
        "stringData": {"token": "s3cret"},
    }
    stored = core.create_namespaced_secret("web", secret)
    assert stored.data == {"token": "czNjcmV0"} and stored.type == "Opaque"
    assert stored.string_data is None


def test_undeclared_fields_fail_an_apply_and_are_dropped_from_a_create(
    sim: KubeSim, dyn: dynamic.DynamicClient
) -> None:
    body = config_map("settings", a="1")
    body["spec"] = {"oops": True}  # a ConfigMap has no spec
    resource = dyn.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(dynamic.exceptions.DynamicApiError) as caught:
        dyn.server_side_apply(resource, body=body, field_manager="shoal")
    assert ".spec: field not declared in schema" in json.loads(caught.value.body)["message"]
    dyn.create(resource, body=body)
    stored = sim.get("v1", "ConfigMap", "settings", "web")
    assert stored is not None and "spec" not in stored and stored["data"] == {"a": "1"}


def test_delete_options_in_the_body(sim: KubeSim, apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("web", deployment())
    options = client.V1DeleteOptions(dry_run=["All"])
    apps.delete_namespaced_deployment("web", "web", body=options)
    assert sim.get("apps/v1", "Deployment", "web", "web") is not None, "a dry run"
    options = client.V1DeleteOptions(propagation_policy="Foreground")
    answer = apps.delete_namespaced_deployment("web", "web", body=options)
    assert answer["kind"] == "Deployment" and answer["metadata"]["deletionTimestamp"]
    assert sim.get("apps/v1", "Deployment", "web", "web") is None


def test_delete_preconditions_refuse_another_object_by_the_same_name(
    sim: KubeSim, core: client.CoreV1Api
) -> None:
    """As the real server: a uid or resourceVersion that does not match is 409 Conflict."""
    body = {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    old = core.create_namespaced_config_map("web", body)
    core.delete_namespaced_config_map("settings", "web")
    new = core.create_namespaced_config_map("web", body)
    for preconditions in (
        client.V1Preconditions(uid=old.metadata.uid),
        client.V1Preconditions(resource_version=old.metadata.resource_version),
    ):
        with pytest.raises(client.ApiException) as caught:
            core.delete_namespaced_config_map(
                "settings", "web", body=client.V1DeleteOptions(preconditions=preconditions)
            )
        assert caught.value.status == 409
        assert "Precondition failed" in json.loads(caught.value.body)["message"]
    assert sim.get("v1", "ConfigMap", "settings", "web") is not None
    matching = client.V1Preconditions(
        uid=new.metadata.uid, resource_version=new.metadata.resource_version
    )
    core.delete_namespaced_config_map(
        "settings", "web", body=client.V1DeleteOptions(preconditions=matching)
    )
    assert sim.get("v1", "ConfigMap", "settings", "web") is None


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "code"),
    [
        ("POST", "/api/v1/namespaces/web/configmaps", [1, 2], "application/json", 400),
        ("PATCH", "/api/v1/namespaces/web/configmaps/x", "<a/>", "text/plain", 415),
        ("PATCH", "/api/v1/namespaces/web/configmaps/x?fieldManager=m", "a: [1", APPLY, 400),
        ("GET", "/api/v1/namespaces/web/configmaps?labelSelector=a%3D%3D%3D", None, None, 400),
        ("GET", "/api/v1/namespaces/web/configmaps?continue=zzz", None, None, 400),
        ("GET", "/api/v1/namespaces/web/configmaps?watch=1&timeoutSeconds=x", None, None, 400),
        ("GET", "/apis/apps/v1/deployments/web", None, None, 404),
        ("GET", "/apis/example.com/v1/widgets", None, None, 404),
        ("POST", "/version", {}, "application/json", 405),
    ],
)
def test_odd_requests_answer_a_status_never_a_500(
    api: client.ApiClient, method: str, path: str, body: object, content_type: str | None, code: int
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.call_api(*api.param_serialize(method, path, header_params=headers, body=body))
    status = json.loads(response.read())
    assert (response.status, status["kind"], status["code"]) == (code, "Status", code)


def test_finalizers_hold_a_deletion_until_removed(sim: KubeSim, core: client.CoreV1Api) -> None:
    body = config_map("settings")
    body["metadata"]["finalizers"] = ["example.com/keep"]
    core.create_namespaced_config_map("web", body)
    answer = core.delete_namespaced_config_map("settings", "web")
    assert answer["kind"] == "ConfigMap" and answer["metadata"]["deletionTimestamp"]
    held = core.read_namespaced_config_map("settings", "web")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map(
        "settings", "web", {"metadata": {"finalizers": None}}, _content_type=MERGE
    )
    assert sim.get("v1", "ConfigMap", "settings", "web") is None
