"""What the edge may touch, against the API stand-in over HTTP (the official client):
objects shoal did not create are neither adopted nor pruned, names are checked before
any request is built from them, prune deletes only the very object shoal made, and
policies (the app's and the node's own) refuse what they do not allow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.reconciler import Reconciler
from edge.runtime import ObjectRef
from edge.runtime.kubernetes import KubernetesRuntime, client_factory
from edge.store import Store
from shadow import DesiredApp, DesiredDocument
from shadow.policy import Policy
from shoal.kubesim import KubeSim
from tests.edge.documents import Generations, configmap

NODE = "edge-001"
# An app allowed anything: these tests are about ownership, not policy.
ANYTHING = (Policy("fleet.yaml"),)
MANAGED = {"app.kubernetes.io/managed-by": "shoal"}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[KubeSim]:
    with KubeSim(rollout_seconds=0.1) as sim:
        yield sim


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state") as store:
        yield store


def reconciler(sim: KubeSim, store: Store, tmp_path: Path, **kwargs: Any) -> Reconciler:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    return Reconciler(KubernetesRuntime(client_factory(str(kubeconfig))), store, **kwargs)


class Documents:
    def __init__(self) -> None:
        self.generations = Generations()

    def __call__(self, **apps: DesiredApp) -> DesiredDocument:
        return DesiredDocument.build(NODE, "c0ffee", self.generations.next(), apps)


def entry(namespace: str, *resources: dict[str, Any], policy: Any = ANYTHING) -> DesiredApp:
    return DesiredApp.build("1.0", namespace, list(resources), policy)


def namespace(name: str, **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"team": "infra"}}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def binding(name: str, role: str = "view") -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "ops", "namespace": "ops"}],
    }


def someone_creates(sim: KubeSim, obj: dict[str, Any]) -> dict[str, Any]:
    kind = sim.catalog.by_kind(obj["apiVersion"], obj["kind"])
    return sim.store.create(kind, obj["metadata"].get("namespace"), obj, "kubectl")


def resources(status: Any) -> dict[str, tuple[bool, str, str]]:
    return {f"{r.kind} {r.name}": (r.ready, r.reason, r.message) for r in status.resources}


def test_an_existing_namespace_and_binding_are_neither_adopted_nor_pruned(
    sim: KubeSim, store: Store, tmp_path: Path
) -> None:
    someone_creates(sim, binding("ops-admin", role="view"))
    docs, edge = Documents(), reconciler(sim, store, tmp_path)
    infra = entry("infra", namespace("kube-system"), binding("ops-admin", "edit"), configmap("a"))
    edge.apply(docs(infra=infra))

    status = edge.observe()["infra"]
    assert status.state == "Failed"
    found = resources(status)
    for refused in ("Namespace kube-system", "ClusterRoleBinding ops-admin"):
        ready, reason, message = found[refused]
        assert (ready, reason) == (False, "NotOwned"), found[refused]
        assert "already exists and shoal did not create it for app infra" in message
        assert 'shoal.dev/adopt: "true"' in message
    assert found["ConfigMap a"][:2] == (True, "")
    # Untouched: no shoal labels, the role still the one its owner bound.
    assert not sim.get("v1", "Namespace", "kube-system")["metadata"].get("labels")
    crb = sim.get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "ops-admin")
    assert crb["roleRef"]["name"] == "view" and not crb["metadata"].get("labels")

    edge.apply(docs())  # the app leaves the node: its objects are pruned, not the others
    assert sim.get("v1", "ConfigMap", "a", "infra") is None
    assert sim.get("v1", "Namespace", "kube-system")["status"]["phase"] == "Active"
    assert sim.get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "ops-admin")
    assert not [p for m, p in sim.requests if m == "DELETE" and "kube-system" in p]
    assert not [p for m, p in sim.requests if m == "DELETE" and "ops-admin" in p]
    assert store.load_inventory().apps == {}


def test_the_adopt_annotation_takes_an_existing_object_over(
    sim: KubeSim, store: Store, tmp_path: Path
) -> None:
    someone_creates(sim, namespace("web"))
    someone_creates(sim, configmap("legacy", "web", color="red"))
    docs, edge = Documents(), reconciler(sim, store, tmp_path)
    legacy = configmap("legacy", color="blue")
    legacy["metadata"]["annotations"] = {"shoal.dev/adopt": "true"}
    edge.apply(docs(web=entry("web", legacy)))

    assert edge.observe()["web"].state == "Ready"
    live = sim.get("v1", "ConfigMap", "legacy", "web")
    assert live["data"] == {"color": "blue"}
    assert live["metadata"]["labels"] == {**MANAGED, "shoal.dev/app": "web"}
    edge.apply(docs())  # adopted is owned: it goes with the app
    assert sim.get("v1", "ConfigMap", "legacy", "web") is None


def test_a_namespace_shoal_created_is_shared_and_one_that_existed_is_never_pruned(
    sim: KubeSim, store: Store, tmp_path: Path
) -> None:
    someone_creates(sim, namespace("legacy"))
    docs, edge = Documents(), reconciler(sim, store, tmp_path)
    # `a` declares namespace `shared`; `b` only puts an object in it.
    a = entry("shared", namespace("shared"), configmap("a"))
    b = entry("shared", configmap("b"))
    c = entry("legacy", configmap("c"))
    edge.apply(docs(a=a, b=b, c=c))
    assert {name: s.state for name, s in edge.observe().items()} == {
        "a": "Ready",
        "b": "Ready",
        "c": "Ready",
    }
    assert sim.get("v1", "Namespace", "legacy")["metadata"]["labels"] == {"team": "infra"}

    # `a` leaves: its Namespace stays while `b` lives in it, and `legacy` is not shoal's.
    edge.apply(docs(b=b))
    assert sim.get("v1", "Namespace", "shared")["status"]["phase"] == "Active"
    assert sim.get("v1", "ConfigMap", "b", "shared") is not None
    assert sim.get("v1", "ConfigMap", "a", "shared") is None
    assert sim.get("v1", "Namespace", "legacy")["status"]["phase"] == "Active"
    # An app declaring the namespace shoal made for others' objects takes it.
    edge.apply(docs(b=b, d=entry("shared", namespace("shared"))))
    assert edge.observe()["d"].state == "Ready"


def test_a_name_with_dot_dot_is_refused_before_any_request(
    sim: KubeSim, store: Store, tmp_path: Path
) -> None:
    prod = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}
    someone_creates(sim, prod)
    someone_creates(sim, configmap("db", "prod"))
    docs, edge = Documents(), reconciler(sim, store, tmp_path)
    evil = "../../../../api/v1/namespaces/prod/configmaps/db"
    edge.apply(docs(web=entry("web", configmap(evil), configmap("ok"))))

    status = edge.observe()["web"]
    ready, reason, message = resources(status)[f"ConfigMap {evil}"]
    assert (ready, reason) == (False, "InvalidName")
    assert "metadata.name: invalid value" in message and "RFC 1123 subdomain" in message
    assert resources(status)["ConfigMap ok"][0]
    edge.apply(docs())  # and prune builds no request from it either
    assert sim.get("v1", "ConfigMap", "db", "prod") is not None
    assert not [path for _, path in sim.requests if ".." in path or "prod" in path]


def test_prune_leaves_an_object_someone_else_recreated(
    sim: KubeSim, store: Store, tmp_path: Path
) -> None:
    docs, edge = Documents(), reconciler(sim, store, tmp_path)
    edge.apply(docs(web=entry("web", configmap("a"), configmap("b"))))
    # Someone deletes `a` and makes their own under the same name, without shoal's labels.
    sim.delete("v1", "ConfigMap", "a", "web")
    someone_creates(sim, configmap("a", "web", owner="them"))
    edge.apply(docs(web=entry("web", configmap("b"))))
    assert sim.get("v1", "ConfigMap", "a", "web")["data"] == {"owner": "them"}


def test_delete_with_a_stale_uid_leaves_the_recreated_object(sim: KubeSim, tmp_path: Path) -> None:
    """The precondition closes the gap between prune's read and its delete."""
    runtime = KubernetesRuntime(client_factory(str(sim.write_kubeconfig(tmp_path / "kc"))))
    someone_creates(sim, namespace("web"))
    old = someone_creates(sim, configmap("a", "web"))
    sim.delete("v1", "ConfigMap", "a", "web")
    new = someone_creates(sim, configmap("a", "web", owner="them"))
    ref = ObjectRef("v1", "ConfigMap", "web", "a")
    assert runtime.delete(ref, uid=old["metadata"]["uid"]) == ""
    assert sim.get("v1", "ConfigMap", "a", "web")["metadata"]["uid"] == new["metadata"]["uid"]
    assert runtime.delete(ref, uid=new["metadata"]["uid"]) == ""
    assert sim.get("v1", "ConfigMap", "a", "web") is None


def test_the_app_policy_is_enforced_on_the_edge_too(
    sim: KubeSim, store: Store, tmp_path: Path
) -> None:
    """A document from a controller that did not check (or was forged) is judged again."""
    docs, edge = Documents(), reconciler(sim, store, tmp_path)
    ops = entry("ops", binding("ops-admin", "cluster-admin"), configmap("a"), policy=())
    edge.apply(docs(ops=ops))

    ready, reason, message = resources(edge.observe()["ops"])["ClusterRoleBinding ops-admin"]
    assert (ready, reason) == (False, "PolicyDenied")
    assert "cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding" in message
    assert "policy.clusterKinds [Namespace] (shoal's default" in message
    assert sim.get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "ops-admin") is None
    assert not [path for _, path in sim.requests if "ops-admin" in path]


def test_the_local_policy_narrows_what_documents_allow(
    sim: KubeSim, store: Store, tmp_path: Path
) -> None:
    local = Policy("this node's local policy", namespaces=("shoal-*",), kinds=("!Secret",))
    docs, edge = Documents(), reconciler(sim, store, tmp_path, local_policy=local)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    edge.apply(
        docs(
            web=entry("web", configmap("a")),
            ok=entry("shoal-ok", configmap("b"), secret),
        )
    )
    statuses = edge.observe()
    ready, reason, message = resources(statuses["web"])["ConfigMap a"]
    assert (ready, reason) == (False, "PolicyDenied")
    assert "namespace web is not allowed by policy.namespaces [shoal-*]" in message
    assert "(this node's local policy)" in message
    assert sim.get("v1", "Namespace", "web") is None  # not even created for it
    found = resources(statuses["ok"])
    assert found["ConfigMap b"][0]
    assert found["Secret s"][1] == "PolicyDenied"
    assert "kind Secret is not allowed by policy.kinds [!Secret]" in found["Secret s"][2]


def test_the_local_policy_flags_make_the_settings_field() -> None:
    import argparse

    from edge.cli import add_parser, local_policy
    from shadow.policy import UNRESTRICTED

    parser = argparse.ArgumentParser()
    edge = add_parser(parser.add_subparsers())
    args = edge.parse_args(["--node", "n1"])
    assert local_policy(args).same_rules(UNRESTRICTED)
    args = edge.parse_args(
        [
            *("--node", "n1", "--allow-namespace", "shoal-*", "--allow-namespace", "!shoal-x"),
            *("--allow-cluster-kind", "!*", "--deny-privileged-rbac"),
        ]
    )
    policy = local_policy(args)
    assert policy.namespaces == ("shoal-*", "!shoal-x") and policy.kinds == ("*",)
    assert policy.cluster_kinds == ("!*",) and not policy.privileged_rbac
    namespace_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shoal-a"}}
    assert policy.check(namespace_obj, namespaced=False) is not None  # '!*': no cluster kinds


def test_a_first_apply_makes_the_namespace_and_reads_nothing_in_it_but_judges_what_exists(
    sim: KubeSim, store: Store, tmp_path: Path
) -> None:
    """Into a namespace that does not exist yet, no object can exist: the namespace is
    made (as applying would) and none of its objects is read. Into one that exists,
    each object is read and one shoal did not create is still refused."""
    someone_creates(sim, namespace("legacy"))
    someone_creates(sim, configmap("theirs", "legacy", color="red"))
    docs, edge = Documents(), reconciler(sim, store, tmp_path)
    fresh = entry("fresh", configmap("a"), configmap("b"), configmap("c"))
    legacy = entry("legacy", configmap("theirs", color="blue"), configmap("mine"))
    edge.apply(docs(fresh=fresh, legacy=legacy))

    states = {name: s.state for name, s in edge.observe().items()}
    assert states == {"fresh": "Ready", "legacy": "Failed"}
    made = sim.get("v1", "Namespace", "fresh")["metadata"]
    assert made["labels"] == MANAGED and made["annotations"] == {"shoal.dev/created-for": "fresh"}
    fresh_requests = [m for m, p in sim.requests if "/namespaces/fresh/configmaps/" in p]
    # Three applies, and no read before them (observing reads each one afterwards).
    assert fresh_requests[:3] == ["PATCH"] * 3
    found = resources(edge.observe()["legacy"])
    assert found["ConfigMap theirs"][:2] == (False, "NotOwned")
    assert sim.get("v1", "ConfigMap", "theirs", "legacy")["data"] == {"color": "red"}
    assert found["ConfigMap mine"][:2] == (True, "")
