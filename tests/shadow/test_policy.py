"""The cross-side rules: Kubernetes names by kind, and what a policy allows."""

from __future__ import annotations

from typing import Any

import pytest

from shadow import DesiredApp, DesiredDocument, DocumentError, digest
from shadow.names import object_name_problem
from shadow.policy import (
    DEFAULT_POLICY,
    UNRESTRICTED,
    Policy,
    PolicyError,
    check_all,
    effective,
)


@pytest.mark.parametrize(
    ("kind", "name", "namespace", "ok"),
    [
        ("ConfigMap", "web.settings-1", "web", True),
        ("ConfigMap", "web_settings", "web", False),
        ("ConfigMap", "a/b", "", False),
        ("ConfigMap", "..", "", False),
        ("ConfigMap", "x" * 253, "", True),
        ("ConfigMap", "x" * 254, "", False),
        ("ConfigMap", "ok", "a.b", False),
        ("Namespace", "a.b", "", False),
        ("Namespace", "x" * 64, "", False),
        ("Service", "1web", "web", False),
        ("Deployment", "1web", "web", True),
        ("ClusterRole", "system:controller:x", "", True),
        ("ClusterRole", "a/b", "", False),
        ("RoleBinding", "50%", "web", False),
        ("ClusterRole", "x?dryRun=All", "", False),
        ("ClusterRole", "x#y", "", False),
        ("ClusterRole", "x y", "", False),
        ("Widget", "Upper", "web", False),
    ],
)
def test_names_follow_the_api_servers_rules_by_kind(
    kind: str, name: str, namespace: str, ok: bool
) -> None:
    assert (object_name_problem(kind, name, namespace) is None) == ok


def obj(kind: str, name: str, namespace: str = "", api: str = "v1", **spec: Any) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api, "kind": kind, "metadata": meta, **spec}


RBAC = "rbac.authorization.k8s.io/v1"


@pytest.mark.parametrize(
    ("thing", "namespaced", "rule"),
    [
        (obj("ConfigMap", "a", "web"), True, None),
        (obj("ConfigMap", "a", "kube-system"), True, "policy.namespaces"),
        (obj("Namespace", "web"), False, None),
        (obj("Namespace", "kube-public"), False, "policy.namespaces"),
        (obj("ClusterRole", "reader", api=RBAC), False, "policy.clusterKinds"),
        (
            obj("Role", "r", "web", api=RBAC, rules=[{"verbs": ["get"], "resources": ["pods"]}]),
            True,
            None,
        ),
        (
            obj("Role", "r", "web", api=RBAC, rules=[{"verbs": ["*"], "resources": ["pods"]}]),
            True,
            "policy.privilegedRbac",
        ),
        (
            obj("Role", "r", "web", api=RBAC, rules=[{"verbs": ["get"], "resources": ["*"]}]),
            True,
            "policy.privilegedRbac",
        ),
        (
            obj(
                "Role",
                "r",
                "web",
                api=RBAC,
                rules=[{"verbs": ["impersonate"], "resources": ["users"]}],
            ),
            True,
            "policy.privilegedRbac",
        ),
        (
            obj("RoleBinding", "b", "web", api=RBAC, roleRef={"name": "admin"}),
            True,
            "policy.privilegedRbac",
        ),
        (
            obj("RoleBinding", "b", "web", api=RBAC, roleRef={"name": "system:auth-delegator"}),
            True,
            "policy.privilegedRbac",
        ),
        (obj("RoleBinding", "b", "web", api=RBAC, roleRef={"name": "view"}), True, None),
    ],
)
def test_the_default_policy(thing: dict[str, Any], namespaced: bool, rule: str | None) -> None:
    refusal = DEFAULT_POLICY.check(thing, namespaced)
    assert (refusal.rule if refusal else None) == rule


def test_kind_patterns_name_groups_and_denials() -> None:
    policy = Policy("fleet.yaml", kinds=("apps/*", "core/ConfigMap"), cluster_kinds=("!Node",))
    deployment = obj("Deployment", "d", "web", api="apps/v1")
    assert policy.check(deployment, True) is None
    assert policy.check(obj("ConfigMap", "c", "web"), True) is None
    assert policy.check(obj("Secret", "s", "web"), True).rule == "policy.kinds"  # type: ignore[union-attr]
    assert policy.check(obj("StorageClass", "s", api="storage.k8s.io/v1"), False) is None
    assert policy.check(obj("Node", "n"), False).rule == "policy.clusterKinds"  # type: ignore[union-attr]


def test_every_policy_must_allow_and_the_first_refusal_names_its_source() -> None:
    fleet = Policy.from_dict({"clusterKinds": ["*"]}, "fleet.yaml", DEFAULT_POLICY)
    app = Policy.from_dict({"namespaces": ["web"]}, "apps/web/app.yaml", UNRESTRICTED)
    policies = effective(fleet, app)
    assert policies == (fleet, app)
    assert check_all(policies, obj("ConfigMap", "a", "web"), True) is None
    refusal = check_all(policies, obj("ConfigMap", "a", "db"), True)
    assert refusal is not None and refusal.message == (
        "namespace db is not allowed by policy.namespaces [web] (apps/web/app.yaml)"
    )
    # fleet.yaml's denial of kube-system still stands under the app's wider field.
    assert fleet.namespaces == DEFAULT_POLICY.namespaces
    assert effective(None, None) == ()


def test_a_malformed_policy_says_where() -> None:
    with pytest.raises(PolicyError, match=r"policy\.kinds: must be a list"):
        Policy.from_dict({"kinds": "Deployment"}, "fleet.yaml", DEFAULT_POLICY)
    with pytest.raises(PolicyError, match=r"policy\.verbs: unknown field"):
        Policy.from_dict({"verbs": []}, "fleet.yaml", DEFAULT_POLICY)


def test_an_entry_without_policy_keeps_its_digest_and_one_with_policy_round_trips() -> None:
    resources = [obj("ConfigMap", "a", "web")]
    plain = DesiredApp.build("1.0", "web", resources)
    assert plain.digest == digest({"version": "1.0", "namespace": "web", "resources": resources})
    assert "policy" not in plain.to_dict()

    fleet = Policy("fleet.yaml", cluster_kinds=("Namespace", "ClusterRole"))
    app = DesiredApp.build("1.0", "web", resources, (fleet,))
    assert app.digest != plain.digest
    doc = DesiredDocument.build("n1", "c0ffee", 1, {"web": app})
    again = DesiredDocument.from_json(doc.to_json())
    assert again.apps["web"].policy == (fleet,) and again.digest == doc.digest

    forged = doc.to_dict()
    forged["apps"]["web"]["policy"][0]["privilegedRbac"] = "yes"
    with pytest.raises(DocumentError, match="privilegedRbac"):
        DesiredDocument.from_dict(forged)
    forged["apps"]["web"]["policy"][0]["privilegedRbac"] = True
    forged["apps"]["web"]["policy"][0]["clusterKinds"] = ["*"]  # a policy widened
    with pytest.raises(DocumentError, match="does not match"):
        DesiredDocument.from_dict(forged)
