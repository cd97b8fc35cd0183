"""`shoal validate` refuses what the API server or the app's policy would refuse: names
by the Kubernetes rules of their kind, and objects outside fleet.yaml's and app.yaml's
`policy` (namespaces, kinds, cluster-scoped kinds, powerful RBAC)."""

from __future__ import annotations

import pytest

from shoal.cli import main
from tests.support.render import FleetRepo

ADMIN_BINDING = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: ops, namespace: ops}]
"""


def problems(repo: FleetRepo, capsys: pytest.CaptureFixture[str]) -> list[str]:
    code = main(["validate", str(repo.root)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code == 0:
        assert out.startswith("ok: "), out
        return []
    assert code == 1, out + err
    return out.splitlines()


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("web_settings", "RFC 1123 subdomain"),
        ("../../apis/apps/v1/namespaces/prod/deployments/db", "RFC 1123 subdomain"),
        ("x" * 254, "no more than 253 characters"),
    ],
)
def test_a_name_the_api_server_refuses_names_template_node_and_app(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str], name: str, rule: str
) -> None:
    fleet_repo.app(
        "bad",
        {"cm.yaml.j2": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: '{name}'}}\n"},
        selector="site=lyon",
    )
    [line] = problems(fleet_repo, capsys)
    assert line.startswith("apps/bad/templates/cm.yaml.j2: rendered document 1 (ConfigMap)")
    assert "metadata.name: invalid value" in line and rule in line
    assert line.endswith("(node lyon-1, app bad)")


def test_namespaces_and_services_must_be_labels(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    template = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a.b, namespace: web.prod}\n"
    )
    fleet_repo.app("bad", {"all.yaml.j2": template}, selector="site=lyon")
    [line] = problems(fleet_repo, capsys)  # the first bad document of a template
    assert "(Service): metadata.name: invalid value '1web': must be a lowercase RFC 1035" in line
    fleet_repo.app("bad", {"all.yaml.j2": template.split("---\n")[1]}, selector="site=lyon")
    [line] = problems(fleet_repo, capsys)
    assert (
        "metadata.namespace: invalid value 'web.prod': must be a lowercase RFC 1123 label" in line
    )


def test_the_default_policy_refuses_cluster_kinds_and_powerful_bindings(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.app("ops", {"rbac.yaml.j2": ADMIN_BINDING}, selector="site=lyon")
    [line] = problems(fleet_repo, capsys)
    assert line == (
        "apps/ops/templates/rbac.yaml.j2: ClusterRoleBinding ops-admin: cluster-scoped kind"
        " rbac.authorization.k8s.io/ClusterRoleBinding is not allowed by policy.clusterKinds"
        " [Namespace] (shoal's default; set policy in fleet.yaml to change it)"
        " (node lyon-1, app ops)"
    )
    # Allowing the kind is not enough: binding cluster-admin needs its own allow.
    fleet_repo.fleet("test", vars={"replicas": 1}, policy={"clusterKinds": ["ClusterRoleBinding"]})
    [line] = problems(fleet_repo, capsys)
    assert "binds the powerful role cluster-admin: not allowed by policy.privilegedRbac" in line
    assert "(fleet.yaml)" in line
    fleet_repo.fleet(
        "test",
        vars={"replicas": 1},
        policy={
            "clusterKinds": ["Namespace", "rbac.authorization.k8s.io/*"],
            "privilegedRbac": True,
        },
    )
    assert problems(fleet_repo, capsys) == []


def test_the_default_policy_refuses_system_namespaces(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: kube-system}\n"
    fleet_repo.app("sys", {"cm.yaml.j2": cm}, selector="site=lyon")
    [line] = problems(fleet_repo, capsys)
    assert "ConfigMap kube-system/x: namespace kube-system is not allowed by" in line
    assert "policy.namespaces [*, !kube-system, !kube-public, !kube-node-lease]" in line


def test_app_yaml_narrows_the_fleet_policy_for_its_app(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    templates = {
        "cm.yaml.j2": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "secret.yaml.j2": "apiVersion: v1\nkind: Secret\nmetadata: {name: y, namespace: other}\n",
    }
    fleet_repo.app("narrow", templates, selector="site=lyon", namespace="narrow")
    data = (fleet_repo.root / "apps/narrow/app.yaml").read_text()
    fleet_repo.write(
        "apps/narrow/app.yaml",
        data + "policy:\n  namespaces: [narrow]\n  kinds: ['!Secret']\n",
    )
    [line] = problems(fleet_repo, capsys)
    assert line.startswith("apps/narrow/templates/secret.yaml.j2: Secret other/y: namespace other")
    assert "policy.namespaces [narrow] (apps/narrow/app.yaml)" in line


def test_a_malformed_policy_is_one_located_problem(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.write(
        "fleet.yaml", "name: test\nvars: {replicas: 1}\npolicy:\n  clusterKind: [Namespace]\n"
    )
    [line] = problems(fleet_repo, capsys)
    assert line.startswith("fleet.yaml:4: policy: unknown key 'clusterKind' (allowed here:")


def test_the_policy_travels_in_the_desired_entry_memoized_or_not(fleet_repo: FleetRepo) -> None:
    from controller.fleet.loading import load_fleet
    from controller.render.rendercache import RenderCache
    from controller.render.rendering import render_fleet

    cache = RenderCache()
    before = render_fleet(load_fleet(fleet_repo.root), cache=cache).apps["lyon-1"]
    assert all(not app.policy and "policy" not in app.to_dict() for app in before.values())
    fleet_repo.fleet("test", vars={"replicas": 1}, policy={"clusterKinds": ["Namespace", "Node"]})
    fleet = load_fleet(fleet_repo.root)
    memoized = render_fleet(fleet, cache=cache).apps["lyon-1"]  # the cache must not serve `before`
    naive = render_fleet(fleet, memoize=False).apps["lyon-1"]
    for name, app in memoized.items():
        assert app == naive[name]
        assert [p.source for p in app.policy] == ["fleet.yaml"]
        assert app.digest == app.content_digest() != before[name].digest


def test_an_app_entry_the_fleet_does_not_allow_is_noted(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.app("narrow", selector="site=lyon")
    data = (fleet_repo.root / "apps/narrow/app.yaml").read_text()
    fleet_repo.write(
        "apps/narrow/app.yaml",
        data + "policy:\n  namespaces: [narrow, kube-system]\n  clusterKinds: [core/Node]\n",
    )
    assert main(["validate", str(fleet_repo.root)]) == 0
    err = capsys.readouterr().err
    assert (
        "note: apps/narrow/app.yaml: policy.namespaces: kube-system allows nothing: fleet.yaml's"
        " policy does not allow it" in err
    )
    assert "policy.clusterKinds: core/Node allows nothing" in err
    assert "narrow allows" not in err
