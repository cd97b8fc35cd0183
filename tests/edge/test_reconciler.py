"""Apply → prune → drift → observe, against a runtime that keeps objects in a dict."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge import store as edge_store
from edge.reconciler import Reconciler
from edge.runtime import ObjectRef
from edge.store import Store
from tests.edge.documents import Generations, app, configmap, document
from tests.edge.fake_runtime import FakeRuntime
from transport.atomicfile import replace_atomically

NODE = "edge-001"


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "state") as store:
        yield store


def cm(name: str, ns: str = "web") -> ObjectRef:
    return ObjectRef("v1", "ConfigMap", ns, name)


def test_apply_labels_objects_and_prunes_what_left(runtime: FakeRuntime, store: Store) -> None:
    gens = Generations()
    reconciler = Reconciler(runtime, store)
    first = document(NODE, {"web": app("web", configmap("a"), configmap("b"))}, gens.next())
    reconciler.apply(first)
    assert set(runtime.objects) == {cm("a"), cm("b")}
    labels = runtime.objects[cm("a")]["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/managed-by": "shoal", "shoal.dev/app": "web"}
    assert reconciler.applied_digest == first.digest
    assert reconciler.observe()["web"].state == "Ready"

    second = document(NODE, {"web": app("web", configmap("a"))}, gens.next())
    reconciler.apply(second)
    assert set(runtime.objects) == {cm("a")}
    assert store.load_inventory().apps["web"].objects == [cm("a")]

    reconciler.apply(document(NODE, {}, gens.next()))
    assert runtime.objects == {}
    assert store.load_inventory().apps == {}


def test_an_object_moving_between_apps_is_never_deleted(runtime: FakeRuntime, store: Store) -> None:
    reconciler = Reconciler(runtime, store)
    shared, ref = configmap("shared"), cm("shared", "common")
    reconciler.apply(document(NODE, {"a": app("common", shared)}, 1))
    # `a` leaves, `b` takes the object: `b` applies first, then `a` is removed.
    reconciler.apply(document(NODE, {"b": app("common", shared)}, 2))
    assert runtime.objects[ref]["metadata"]["labels"]["shoal.dev/app"] == "b"
    # back to `a` while `b` stays: `a` applies first, then `b` prunes what it lost.
    reconciler.apply(
        document(NODE, {"a": app("common", shared), "b": app("common", configmap("y"))}, 3)
    )
    assert ("delete", ref) not in runtime.calls
    assert runtime.objects[ref]["metadata"]["labels"]["shoal.dev/app"] == "a"
    inventory = store.load_inventory()
    assert inventory.apps["a"].objects == [ref]
    assert inventory.apps["b"].objects == [cm("y", "common")]


def test_unchanged_apps_are_not_reapplied(runtime: FakeRuntime, store: Store) -> None:
    gens = Generations()
    reconciler = Reconciler(runtime, store)
    web = app("web", configmap("a"))
    reconciler.apply(document(NODE, {"web": web}, gens.next()))
    runtime.calls.clear()
    reconciler.apply(document(NODE, {"web": web, "db": app("db", configmap("x"))}, gens.next()))
    assert runtime.calls == [("apply", cm("x", "db"))]


def test_a_rejected_object_fails_only_its_app(runtime: FakeRuntime, store: Store) -> None:
    runtime.reject = lambda obj: "bad port" if obj["metadata"]["name"] == "broken" else None
    reconciler = Reconciler(runtime, store)
    doc = document(
        NODE,
        {
            "web": app("web", configmap("broken"), configmap("fine")),
            "db": app("db", configmap("x")),
        },
        1,
    )
    reconciler.apply(doc)
    statuses = reconciler.observe()
    assert statuses["web"].state == "Failed"
    assert statuses["web"].message == "ConfigMap web/broken: bad port"
    assert statuses["db"].state == "Ready"
    assert cm("fine") in runtime.objects
    assert reconciler.applied_digest == ""  # a redelivery must not be skipped

    runtime.reject = lambda obj: None  # fixed on the server side: the retry succeeds
    reconciler.reconcile()
    assert reconciler.observe()["web"].state == "Ready"
    assert reconciler.applied_digest == doc.digest


def test_drift_is_repaired_and_reported(runtime: FakeRuntime, store: Store) -> None:
    reconciler = Reconciler(runtime, store)
    reconciler.apply(document(NODE, {"web": app("web", configmap("a"), configmap("b"))}, 1))
    del runtime.objects[cm("a")]
    runtime.touch(cm("b"))
    reconciler.reconcile()
    assert cm("a") in runtime.objects
    resources = {r.name: r for r in reconciler.observe()["web"].resources}
    assert resources["a"].drifted and "deleted by someone else" in resources["a"].message
    assert resources["b"].drifted and "changed by someone else" in resources["b"].message
    reconciler.reconcile()
    assert not any(r.drifted for r in reconciler.observe()["web"].resources)


def test_an_unreachable_cluster_fails_the_document_until_it_is_back(
    runtime: FakeRuntime, store: Store
) -> None:
    reconciler = Reconciler(runtime, store)
    runtime.down = True
    reconciler.apply(document(NODE, {"web": app("web", configmap("a"))}, 1))
    assert "connection refused" in reconciler.failure
    assert reconciler.observe()["web"].state == "Failed"
    runtime.down = False
    reconciler.reconcile()
    assert reconciler.failure == ""
    assert reconciler.observe()["web"].state == "Ready"


def test_a_restart_prunes_from_the_stored_inventory(runtime: FakeRuntime, tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        Reconciler(runtime, store).apply(
            document(NODE, {"web": app("web", configmap("a"), configmap("b"))}, 1)
        )
    with Store(tmp_path) as store:
        Reconciler(runtime, store).apply(
            document(NODE, {"web": app("web", configmap("a"))}, 2), force=True
        )
    assert set(runtime.objects) == {cm("a")}


def test_an_app_raising_fails_alone_and_leaving_clears_it(
    runtime: FakeRuntime, store: Store
) -> None:
    reconciler = Reconciler(runtime, store)
    plan = runtime.plan

    def buggy_plan(name: str, desired):  # type: ignore[no-untyped-def]
        if name == "broken":
            raise RuntimeError("boom")
        return plan(name, desired)

    runtime.plan = buggy_plan  # type: ignore[method-assign]
    web = app("web", configmap("a"))
    reconciler.apply(document(NODE, {"broken": app("x", configmap("b")), "web": web}, 1))
    statuses = reconciler.observe()
    assert (statuses["broken"].state, statuses["broken"].reason) == ("Failed", "AgentError")
    assert statuses["broken"].message == "unexpected error in the edge agent: RuntimeError: boom"
    assert statuses["web"].state == "Ready" and cm("a") in runtime.objects
    assert reconciler.applied_digest == ""  # not all of it is applied
    last = document(NODE, {"web": web}, 2)
    reconciler.apply(last)
    assert reconciler.applied_digest == last.digest


class DiskCheckingRuntime(FakeRuntime):
    """Records, at each apply, whether the inventory on disk already lists the objects."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__()
        self.state_dir = state_dir
        self.unlisted: list[ObjectRef] = []

    def apply(self, app, desired, only=None):  # type: ignore[no-untyped-def]
        on_disk = Store(self.state_dir).load_inventory()
        listed = {ref for owned in on_disk.apps.values() for ref in owned.objects}
        wanted = only if only is not None else self.plan(app, desired)
        self.unlisted += [ref for ref in wanted if ref not in listed]
        return super().apply(app, desired, only)


def test_every_object_is_in_the_inventory_on_disk_before_it_is_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash at any moment of an apply leaves no object the inventory does not list,
    even when the write (on a thread of its own) is slow, as fsync on flash is."""

    def slow_replace(path: Path, data: bytes) -> None:
        time.sleep(0.05)  # a slow disk, not a wait for something to happen
        replace_atomically(path, data)

    monkeypatch.setattr(edge_store, "replace_atomically", slow_replace)
    runtime = DiskCheckingRuntime(tmp_path / "state")
    gens = Generations()
    with Store(tmp_path / "state") as store:
        edge = Reconciler(runtime, store)
        edge.apply(document(NODE, {"web": app("web", configmap("a"), configmap("b"))}, gens.next()))
        apps = {"web": app("web", configmap("a"), configmap("c")), "db": app("db", configmap("d"))}
        edge.apply(document(NODE, apps, gens.next()))
    assert runtime.calls, "objects were applied"
    assert runtime.unlisted == []
