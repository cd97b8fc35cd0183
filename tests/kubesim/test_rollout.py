"""Workload status: a rollout in progress after each spec change, then complete."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, dynamic

from shoal.kubesim import KubeSim
from tests.kubesim.conftest import deployment
from tests.support.waiting import wait_until


def rolled_out(d: client.V1Deployment) -> bool:
    status, n = d.status, d.spec.replicas
    return bool(
        status.observed_generation == d.metadata.generation
        and status.updated_replicas == n
        and status.ready_replicas == n
        and status.available_replicas == n
    )


@pytest.fixture
def web(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "web"}})


def test_a_deployment_becomes_ready_after_its_rollout(apps: client.AppsV1Api, web) -> None:
    created = apps.create_namespaced_deployment("web", deployment())
    assert not rolled_out(created)
    conditions = {c.type: c.status for c in created.status.conditions}
    assert conditions == {"Available": "False", "Progressing": "True"}
    ready = wait_until(
        lambda: (d := apps.read_namespaced_deployment("web", "web")) and rolled_out(d) and d
    )
    assert {c.type: c.status for c in ready.status.conditions} == {
        "Available": "True",
        "Progressing": "True",
    }
    assert int(ready.metadata.resource_version) > int(created.metadata.resource_version)


def test_a_spec_change_starts_a_new_rollout(apps: client.AppsV1Api, web) -> None:
    apps.create_namespaced_deployment("web", deployment())
    wait_until(lambda: rolled_out(apps.read_namespaced_deployment("web", "web")))
    patched = apps.patch_namespaced_deployment("web", "web", {"spec": {"replicas": 3}})
    assert patched.metadata.generation == 2
    assert not rolled_out(patched)
    done = wait_until(
        lambda: (d := apps.read_namespaced_deployment("web", "web")) and rolled_out(d) and d
    )
    assert done.status.observed_generation == 2 and done.status.ready_replicas == 3


def test_a_held_rollout_never_completes_until_released(
    sim: KubeSim, apps: client.AppsV1Api, web
) -> None:
    sim.hold_rollout("web", "web")
    apps.create_namespaced_deployment("web", deployment())
    with pytest.raises(AssertionError):
        wait_until(lambda: rolled_out(apps.read_namespaced_deployment("web", "web")), timeout=1.0)
    sim.hold_rollout("web", "web", held=False)
    wait_until(lambda: rolled_out(apps.read_namespaced_deployment("web", "web")))


def test_statefulset_and_daemonset_report_their_own_counts(
    dyn: dynamic.DynamicClient, apps: client.AppsV1Api, web
) -> None:
    for kind in ("StatefulSet", "DaemonSet"):
        body = deployment(name=kind.lower())
        body["kind"] = kind
        if kind == "DaemonSet":
            del body["spec"]["replicas"]
        resource = dyn.resources.get(api_version="apps/v1", kind=kind)
        dyn.server_side_apply(resource, body=body, field_manager="shoal")
    sts = wait_until(
        lambda: (
            (s := apps.read_namespaced_stateful_set("statefulset", "web")).status.ready_replicas
            == 2
            and s
        )
    )
    assert (
        sts.status.updated_replicas == 2
        and sts.status.current_revision == sts.status.update_revision
    )
    ds = wait_until(
        lambda: (
            (d := apps.read_namespaced_daemon_set("daemonset", "web")).status.number_ready == 1
            and d
        )
    )
    assert ds.status.desired_number_scheduled == ds.status.updated_number_scheduled == 1
    assert ds.status.number_available == 1 and ds.status.observed_generation == 1


def test_a_job_succeeds_after_its_run(api: client.ApiClient, web) -> None:
    batch = client.BatchV1Api(api)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "busybox"}],
                }
            }
        },
    }
    created = batch.create_namespaced_job("web", job)
    assert not created.status.succeeded
    done = wait_until(
        lambda: (j := batch.read_namespaced_job("migrate", "web")).status.succeeded == 1 and j
    )
    assert {c.type for c in done.status.conditions} >= {"Complete"}


def test_holding_a_ready_workload_takes_it_back_to_in_progress(
    sim: KubeSim, apps: client.AppsV1Api, web
) -> None:
    apps.create_namespaced_deployment("web", deployment())
    wait_until(lambda: rolled_out(apps.read_namespaced_deployment("web", "web")))
    sim.hold_rollout("web", "web")
    assert not rolled_out(apps.read_namespaced_deployment("web", "web"))
    sim.hold_rollout("web", "web", held=False)
    wait_until(lambda: rolled_out(apps.read_namespaced_deployment("web", "web")))


def test_pods_run_and_can_be_selected_by_phase(core: client.CoreV1Api, web) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "one"},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    assert core.create_namespaced_pod("web", pod).status.phase == "Pending"
    running = wait_until(
        lambda: core.list_namespaced_pod("web", field_selector="status.phase=Running").items
    )
    assert [p.metadata.name for p in running] == ["one"]
    assert {c.type for c in running[0].status.conditions} >= {"Ready"}


def test_a_rollout_that_finished_unseen_stays_finished_after_a_metadata_apply(
    tmp_path: Path,
) -> None:
    # An instant rollout, held until the first apply is in: it completes during the
    # second apply, which must keep the completed status.
    with KubeSim(rollout_seconds=0) as sim:
        api = sim.api_client()
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "web"}})
        dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
        deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
        sim.hold_rollout("web", "web")
        dyn.server_side_apply(deployments, body=deployment(), field_manager="shoal")
        sim.hold_rollout("web", "web", held=False)
        labelled = deployment()
        labelled["metadata"]["labels"]["tier"] = "front"
        applied = dyn.server_side_apply(deployments, body=labelled, field_manager="shoal")
        assert applied.status.readyReplicas == 2
        assert rolled_out(client.AppsV1Api(api).read_namespaced_deployment("web", "web"))


def test_scale_subresource_reads_and_sets_replicas(apps: client.AppsV1Api, web) -> None:
    apps.create_namespaced_deployment("web", deployment(replicas=2))
    scale = apps.read_namespaced_deployment_scale("web", "web")
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=web")
    scaled = apps.patch_namespaced_deployment_scale("web", "web", {"spec": {"replicas": 4}})
    assert scaled.spec.replicas == 4
    d = apps.read_namespaced_deployment("web", "web")
    assert (d.spec.replicas, d.metadata.generation) == (4, 2)
    wait_until(lambda: rolled_out(apps.read_namespaced_deployment("web", "web")))
    assert apps.read_namespaced_deployment_scale("web", "web").status.replicas == 4


def test_a_held_rollout_passes_its_progress_deadline(
    sim: KubeSim, apps: client.AppsV1Api, web
) -> None:
    body = deployment()
    body["spec"]["progressDeadlineSeconds"] = 1
    sim.hold_rollout("web", "web")
    apps.create_namespaced_deployment("web", body)

    def progressing(d: client.V1Deployment) -> client.V1DeploymentCondition:
        return next(c for c in d.status.conditions if c.type == "Progressing")

    stalled = wait_until(
        lambda: (
            (c := progressing(apps.read_namespaced_deployment("web", "web"))).status == "False"
            and c
        )
    )
    assert stalled.reason == "ProgressDeadlineExceeded"
    assert stalled.message == 'ReplicaSet "web" has timed out progressing.'
    sim.hold_rollout("web", "web", held=False)
    wait_until(lambda: rolled_out(apps.read_namespaced_deployment("web", "web")))
