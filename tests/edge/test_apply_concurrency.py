"""Applying an app's objects several at a time (`shoal edge --apply-concurrency N`)
means what applying them one by one means: against the API stand-in over HTTP, one
rejected object among many fails exactly that object, and an app applied N at a time
ends with the same objects and the same inventory as one applied one by one, its
Namespace made before anything in it. `InFlight` itself: a request that raises stops
the ones not started and is raised in the caller's thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.reconciler import Reconciler
from edge.runtime.inflight import InFlight
from edge.runtime.kubernetes import KubernetesRuntime, client_factory
from edge.store import Store
from shadow import DesiredApp, DesiredDocument
from shadow.policy import Policy
from shoal.kubesim import KubeSim
from tests.edge.documents import configmap, deployment

NODE = "edge-001"
ANYTHING = (Policy("fleet.yaml"),)


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(rollout_seconds=0.0) as sim:
        yield sim


def reconciler(sim: KubeSim, state: Path, concurrency: int) -> Reconciler:
    kubeconfig = sim.write_kubeconfig(state.with_name(state.name + ".kubeconfig"))
    runtime = KubernetesRuntime(client_factory(str(kubeconfig)), apply_concurrency=concurrency)
    return Reconciler(runtime, Store(state).open())


def many(namespace: str, count: int = 12) -> DesiredApp:
    declared = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    objects = [configmap(f"cm-{i}", v=str(i)) for i in range(count)] + [deployment("web")]
    return DesiredApp.build("1.0", namespace, [*objects, declared], ANYTHING)


def test_one_rejected_object_among_many_fails_exactly_that_object(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.reject(lambda obj: "data.v: Invalid value" if obj["metadata"]["name"] == "cm-7" else None)
    edge = reconciler(sim, tmp_path / "state", concurrency=4)
    other = DesiredApp.build("1.0", "other", [configmap("fine")], ANYTHING)
    edge.apply(DesiredDocument.build(NODE, "c0ffee", 1, {"web": many("web"), "other": other}))
    edge.store.close()

    status = edge.observe()
    assert status["other"].state != "Failed"
    assert status["web"].state == "Failed"
    failed = [r for r in status["web"].resources if not r.ready and r.reason == "ApplyFailed"]
    assert [(r.kind, r.namespace, r.name) for r in failed] == [("ConfigMap", "web", "cm-7")]
    assert "data.v: Invalid value" in failed[0].message
    assert "ConfigMap web/cm-7" in status["web"].message
    for i in range(12):
        assert (sim.get("v1", "ConfigMap", f"cm-{i}", "web") is None) == (i == 7)
    assert sim.get("apps/v1", "Deployment", "web", "web") is not None


def test_an_app_applied_four_at_a_time_ends_like_one_applied_one_by_one(tmp_path: Path) -> None:
    results: dict[int, tuple[bytes, dict[str, Any], list[str]]] = {}
    for concurrency in (1, 4):
        with KubeSim(rollout_seconds=0.0) as sim:
            edge = reconciler(sim, tmp_path / f"state{concurrency}", concurrency)
            edge.apply(DesiredDocument.build(NODE, "c0ffee", 1, {"web": many("web")}))
            assert edge.observe()["web"].state in ("Ready", "Progressing")
            edge.store.close()
            objects = {
                name: {k: v for k, v in obj["metadata"].items() if k in ("labels", "namespace")}
                | {"data": obj.get("data")}
                for name in [f"cm-{i}" for i in range(12)]
                if (obj := sim.get("v1", "ConfigMap", name, "web")) is not None
            }
            writes = [path for method, path in sim.requests if method == "PATCH"]
            results[concurrency] = (edge.store.inventory_path.read_bytes(), objects, writes)
    (serial_inventory, serial_objects, serial_writes) = results[1]
    (inventory, objects, writes) = results[4]
    assert inventory == serial_inventory
    assert objects == serial_objects and len(objects) == 12
    assert sorted(writes) == sorted(serial_writes)
    assert writes[0] == "/api/v1/namespaces/web", "the Namespace goes first"


def test_a_request_that_raises_stops_the_rest_and_is_raised_in_the_caller() -> None:
    release, fail_now, ran = threading.Event(), threading.Event(), []

    def slow() -> str:
        release.wait(10)
        return "slow"

    def fails() -> str:
        fail_now.wait(10)
        raise ConnectionError("the API server went away")

    def fine() -> str:
        ran.append("fine")
        return "fine"

    requests = InFlight(2)
    started = requests.submit(slow)
    failing = requests.submit(fails)
    requests.submit(fine)  # queued behind the two: never started
    fail_now.set()
    assert isinstance(failing.exception(timeout=10), ConnectionError)
    with pytest.raises(ConnectionError, match="went away"):
        requests.submit(fine)
    release.set()
    with pytest.raises(ConnectionError, match="went away"):
        requests.close()
    assert started.result() == "slow", "a request already started is waited for"
    assert ran == []


def test_a_limit_of_one_runs_each_request_in_the_callers_thread() -> None:
    threads: list[str] = []
    with InFlight(1) as requests:
        futures = [
            requests.submit(lambda i: threads.append(threading.current_thread().name) or i, i)
            for i in range(3)
        ]
    assert [f.result() for f in futures] == [0, 1, 2]
    assert set(threads) == {threading.current_thread().name}
