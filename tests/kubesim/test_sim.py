"""KubeSim's own surface: kubeconfig, direct store access, and playing "someone else"."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic
from urllib3.exceptions import MaxRetryError

import shoal.kubesim
from shoal.kubesim import KubeSim
from tests.kubesim.conftest import config_map, deployment
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


def test_public_surface() -> None:
    assert shoal.kubesim.__all__ == ["KubeSim"]


def test_kubeconfig_works_with_load_kube_config(sim: KubeSim, tmp_path: Path) -> None:
    path = sim.write_kubeconfig(tmp_path / "kube" / "config", context="edge-001")
    assert yaml.safe_load(path.read_text())["current-context"] == "edge-001"
    api = config.new_client_from_config(config_file=str(path))
    assert client.VersionApi(api).get_code().git_version == "v1.30.0"
    assert api.configuration.host == sim.url


def test_direct_access_sees_what_clients_wrote(sim: KubeSim, core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    core.create_namespaced_config_map("web", config_map("a", labels={"app": "x"}))
    core.create_namespaced_config_map("web", config_map("b", labels={"app": "y"}))
    found = sim.get("v1", "ConfigMap", "a", "web")
    assert found is not None and found["metadata"]["labels"] == {"app": "x"}
    assert [o["metadata"]["name"] for o in sim.list("v1", "ConfigMap", "web", "app=y")] == ["b"]
    assert sim.get("v1", "ConfigMap", "ghost", "web") is None
    assert sim.get("v1", "Namespace", "web") is not None
    with pytest.raises(ValueError, match="does not serve"):
        sim.get("example.com/v1", "Widget", "w")


def test_someone_else_deletes_an_object(sim: KubeSim, dyn: dynamic.DynamicClient, core) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    first = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    assert sim.delete("apps/v1", "Deployment", "web", "web") is True
    assert sim.delete("apps/v1", "Deployment", "web", "web") is False
    again = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    assert again.metadata.uid != first.metadata.uid, "re-created, not resurrected"


def test_someone_else_modifies_an_object(sim: KubeSim, apps: client.AppsV1Api, core) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    created = apps.create_namespaced_deployment("web", deployment())
    changed = sim.modify(
        "apps/v1", "Deployment", "web", "web", lambda d: d["spec"].update(replicas=7)
    )
    assert changed["metadata"]["generation"] == 2
    read = apps.read_namespaced_deployment("web", "web")
    assert read.spec.replicas == 7
    assert int(read.metadata.resource_version) > int(created.metadata.resource_version)
    assert "kubectl-edit" in {m.manager for m in read.metadata.managed_fields}


def test_reject_answers_422_with_the_message(
    sim: KubeSim, dyn: dynamic.DynamicClient, core
) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    sim.reject(
        lambda obj: (
            "image must come from the local registry"
            if obj["kind"] == "Deployment" and "evil" in json.dumps(obj["spec"])
            else None
        )
    )
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    with pytest.raises(dynamic.exceptions.UnprocessibleEntityError) as caught:
        dyn.server_side_apply(deployments, body=deployment(image="evil:1"), field_manager="shoal")
    status = json.loads(caught.value.body)
    assert status["reason"] == "Invalid" and status["code"] == 422
    assert "image must come from the local registry" in status["message"]
    assert sim.get("apps/v1", "Deployment", "web", "web") is None
    dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    assert sim.get("apps/v1", "Deployment", "web", "web") is not None


def test_requests_show_that_a_no_op_apply_writes_nothing(
    sim: KubeSim, dyn: dynamic.DynamicClient, core
) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    first = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    seen = len(sim.requests)
    again = dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
    assert sim.requests[seen:] == [("PATCH", "/apis/apps/v1/namespaces/web/deployments/web")]
    assert again.metadata.resourceVersion == first.metadata.resourceVersion


def test_each_sim_is_independent() -> None:
    with KubeSim() as one, KubeSim() as two:
        client.CoreV1Api(one.api_client()).create_namespace({"metadata": {"name": "only-one"}})
        assert one.get("v1", "Namespace", "only-one") is not None
        assert two.get("v1", "Namespace", "only-one") is None
        assert one.url != two.url


def test_run_by_hand_with_python_m(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    process = subprocess.Popen(
        [sys.executable, "-m", "shoal.kubesim", "--port", "0", "--kubeconfig", str(kubeconfig)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(kubeconfig.exists, timeout=20)
        wait_until(lambda: yaml.safe_load(kubeconfig.read_text()), timeout=5)
        api = config.new_client_from_config(config_file=str(kubeconfig))
        names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
        assert "default" in names
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_concurrent_writers_get_distinct_resource_versions(sim: KubeSim, core) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    versions: list[str] = []
    failures: list[BaseException] = []

    def writer(index: int) -> None:
        api = sim.api_client()
        try:
            for n in range(10):
                made = client.CoreV1Api(api).create_namespaced_config_map(
                    "web", config_map(f"w{index}-{n}")
                )
                versions.append(made.metadata.resource_version)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test
            failures.append(exc)
        finally:
            api.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert len(versions) == len(set(versions)) == 40
    assert len(sim.list("v1", "ConfigMap", "web")) == 41  # and kube-root-ca.crt


def test_a_stopped_sim_refuses_clients_and_restarts_with_its_objects(
    sim: KubeSim, core: client.CoreV1Api
) -> None:
    core.create_namespace({"metadata": {"name": "web"}})
    url = sim.url
    sim.stop()
    # The client's pooled keep-alive connection must not reach the stopped server.
    with pytest.raises(MaxRetryError):
        core.read_namespace("web", _request_timeout=2)
    sim.start()
    assert sim.url == url
    assert core.read_namespace("web").metadata.name == "web"
    assert ("GET", "/api/v1/namespaces/web") in sim.requests
