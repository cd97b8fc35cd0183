"""Namespaces: created, listed, deleted, and required for namespaced objects."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from shoal.kubesim import KubeSim
from tests.kubesim.conftest import config_map
from tests.support.waiting import wait_until


def test_a_cluster_starts_with_the_system_namespaces(core: client.CoreV1Api) -> None:
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert names == {"default", "kube-system", "kube-public", "kube-node-lease"}


def test_create_get_list_delete_a_namespace(core: client.CoreV1Api) -> None:
    created = core.create_namespace({"metadata": {"name": "web", "labels": {"team": "a"}}})
    assert created.status.phase == "Active"
    assert core.read_namespace("web").metadata.uid == created.metadata.uid
    assert [n.metadata.name for n in core.list_namespace(label_selector="team=a").items] == ["web"]
    core.delete_namespace("web")
    wait_until(lambda: "web" not in {n.metadata.name for n in core.list_namespace().items})


def test_new_namespace_gets_a_default_service_account(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    accounts = core.list_namespaced_service_account("web").items
    assert [a.metadata.name for a in accounts] == ["default"]


def test_object_in_a_missing_namespace_is_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("ghost", config_map("settings", "ghost"))
    status = json.loads(caught.value.body)
    assert caught.value.status == 404
    assert status["kind"] == "Status" and status["reason"] == "NotFound"
    assert status["message"] == 'namespaces "ghost" not found'
    assert status["details"] == {"name": "ghost", "kind": "namespaces"}


def test_apply_into_a_missing_namespace_is_not_found(dyn: dynamic.DynamicClient) -> None:
    resource = dyn.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(dynamic.exceptions.NotFoundError) as caught:
        dyn.server_side_apply(resource, body=config_map("settings", "ghost"), field_manager="shoal")
    assert json.loads(caught.value.body)["message"] == 'namespaces "ghost" not found'


def test_a_deleted_namespace_terminates_then_goes_with_its_content(
    sim: KubeSim, core: client.CoreV1Api
) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    core.create_namespaced_config_map("web", config_map("settings"))
    sim.hold_rollout("web", "anything")  # not a namespace's business: it still terminates
    answer = core.delete_namespace("web")
    assert answer["status"]["phase"] == "Terminating"
    assert answer["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("web", config_map("late"))
    status = json.loads(caught.value.body)
    if caught.value.status == 403:  # still terminating (it lasts rollout_seconds)
        assert status["reason"] == "Forbidden"
        assert "because it is being terminated" in status["message"]
    else:  # already gone
        assert caught.value.status == 404
    wait_until(lambda: sim.get("v1", "Namespace", "web") is None)
    assert sim.list("v1", "ConfigMap", "web") == []
    core.create_namespace({"metadata": {"name": "web"}})  # and the name is free again


def test_deleting_a_terminating_namespace_is_a_conflict() -> None:
    with KubeSim(rollout_seconds=3600) as sim:
        core = client.CoreV1Api(sim.api_client())
        core.create_namespace({"metadata": {"name": "web"}})
        core.delete_namespace("web")
        with pytest.raises(ApiException) as caught:
            core.delete_namespace("web")
        assert caught.value.status == 409
        assert "will automatically be purged" in json.loads(caught.value.body)["message"]
        assert core.read_namespace("web").status.phase == "Terminating"
