"""Watches: the event stream the official client's `watch.Watch` and DynamicClient read."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, dynamic, watch

from shoal.kubesim import KubeSim
from tests.kubesim.conftest import config_map, deployment
from tests.support.waiting import wait_until


@pytest.fixture(autouse=True)
def web(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "web"}})


def test_watch_starts_with_existing_objects_then_follows_writes(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("web", config_map("before", labels={"w": "1"}))

    def write_later() -> None:
        core.create_namespaced_config_map("web", config_map("after", labels={"w": "1"}))
        core.patch_namespaced_config_map("after", "web", {"data": {"k": "v"}})
        core.delete_namespaced_config_map("before", "web")

    seen: list[tuple[str, str]] = []
    stream = watch.Watch().stream(
        core.list_namespaced_config_map, "web", label_selector="w=1", timeout_seconds=10
    )
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 1:
            threading.Thread(target=write_later).start()
        if len(seen) == 4:
            break
    assert seen == [
        ("ADDED", "before"),
        ("ADDED", "after"),
        ("MODIFIED", "after"),
        ("DELETED", "before"),
    ]


def test_watch_from_a_resource_version_replays_what_came_after(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map("web", config_map("a"))
    core.create_namespaced_config_map("web", config_map("b"))
    events = watch.Watch().stream(
        core.list_namespaced_config_map,
        "web",
        resource_version=first.metadata.resource_version,
        timeout_seconds=1,
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "b")]


def test_a_watch_sees_a_rollout_complete_without_anyone_reading(
    sim: KubeSim, dyn: dynamic.DynamicClient
) -> None:
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    created = dyn.create(deployments, body=deployment())
    for event in dyn.watch(
        deployments,
        namespace="web",
        resource_version=created.metadata.resourceVersion,
        timeout=10,
    ):
        status = event["raw_object"]["status"]
        if status.get("readyReplicas") == 2:
            assert event["type"] == "MODIFIED"
            break
    else:
        pytest.fail("no event showed the rollout complete")


def test_stopping_the_sim_ends_open_watches(core: client.CoreV1Api) -> None:
    with KubeSim() as other:
        api = other.api_client()
        finished = threading.Event()

        def follow() -> None:
            for _ in watch.Watch().stream(client.CoreV1Api(api).list_namespace, timeout_seconds=60):
                pass
            finished.set()

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        wait_until(lambda: ("GET", "/api/v1/namespaces") in other.requests)
    assert finished.wait(timeout=10), "the watch kept running after stop()"
