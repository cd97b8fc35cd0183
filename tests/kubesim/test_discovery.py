"""Discovery: what the official client and the DynamicClient learn about the server."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, dynamic

from shoal.kubesim import KubeSim
from shoal.kubesim.catalog import KINDS


def test_version_carries_every_field_the_client_model_requires(api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert (info.major, info.minor, info.git_version) == ("1", "30", "v1.30.0")
    assert info.git_commit and info.build_date and info.go_version and info.platform


def test_version_is_configurable() -> None:
    with KubeSim(version="v1.31.4") as sim:
        info = client.VersionApi(sim.api_client()).get_code()
    assert (info.major, info.minor, info.git_version) == ("1", "31", "v1.31.4")


def test_core_group_lists_its_resources(core: client.CoreV1Api) -> None:
    resources = {r.name: r for r in core.get_api_resources().resources}
    assert resources["namespaces"].namespaced is False
    assert resources["configmaps"].namespaced is True
    assert resources["configmaps"].short_names == ["cm"]
    assert resources["pods"].kind == "Pod" and "list" in resources["pods"].verbs
    assert "deployments" not in resources


def test_named_groups_and_their_preferred_versions(api: client.ApiClient) -> None:
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert set(groups) >= {
        "apps",
        "batch",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "policy",
        "autoscaling",
    }
    assert groups["autoscaling"].preferred_version.group_version == "autoscaling/v2"
    apps = client.AppsV1Api(api).get_api_resources()
    names = {r.name for r in apps.resources}
    assert {"deployments", "deployments/status", "statefulsets", "daemonsets"} <= names


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: f"{k.api_version}/{k.kind}")
def test_dynamic_client_resolves_every_served_kind(dyn: dynamic.DynamicClient, kind) -> None:
    resource = dyn.resources.get(api_version=kind.api_version, kind=kind.kind)
    assert (resource.name, resource.namespaced) == (kind.plural, kind.namespaced)
    listing = dyn.get(resource)
    assert listing.kind == f"{kind.kind}List"


def test_unknown_group_and_openapi_are_not_found(api: client.ApiClient) -> None:
    for path in ("/apis/example.com/v1", "/openapi/v2", "/apis/nope"):
        response = api.call_api(*api.param_serialize("GET", path))
        assert response.status == 404, path


def test_kubectl_get_tables(api: client.ApiClient, sim: KubeSim) -> None:
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "web"}})
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    response = api.call_api(*api.param_serialize("GET", "/api/v1/namespaces", header_params=accept))
    table = json.loads(response.read())
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert ["web", "Active"] in [row["cells"][:2] for row in table["rows"]]
