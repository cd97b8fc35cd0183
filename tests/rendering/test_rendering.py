"""Rendering apps into Desired entries: Kubernetes objects, namespaces, labels, the
memo, and every render error as one located Problem."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from controller.commands import init
from controller.fleet.loading import load_fleet
from controller.fleet.model import Fleet
from controller.fleet.problems import FleetError, Problem
from controller.render.rendering import load_and_render, render_fleet, render_node
from tests.support.render import FleetRepo

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {{ replicas }}
"""


@pytest.fixture
def repo(tmp_path: Path) -> FleetRepo:
    repo = FleetRepo(tmp_path / "fleet")
    repo.node("paris-1", site="paris", role="gateway")
    repo.node("paris-2", site="paris", role="gateway")
    repo.node("lyon-1", site="lyon", role="gateway")
    repo.group("paris", "site=paris", replicas=3)
    return repo


def only_problem(fleet: Fleet) -> Problem:
    result = render_fleet(fleet)
    assert result.problems, "expected a render problem"
    assert len({(p.file, p.line, p.message) for p in result.problems}) == 1, result.problems
    return result.problems[0]


def test_objects_get_the_app_namespace_and_shoal_labels(repo: FleetRepo) -> None:
    repo.app("web", {"deploy.yaml.j2": DEPLOYMENT}, namespace="web-ns", replicas=1)
    apps = render_node(load_fleet(repo.root), "paris-1")
    [deployment] = apps["web"].resources
    assert deployment["metadata"] == {
        "name": "web",
        "namespace": "web-ns",
        "labels": {"app.kubernetes.io/managed-by": "shoal", "shoal.dev/app": "web"},
    }
    assert deployment["spec"] == {"replicas": 3}
    assert (apps["web"].version, apps["web"].namespace) == ("1.0", "web-ns")
    assert apps["web"].digest.startswith("sha256:")


def test_explicit_namespace_and_labels_are_kept_cluster_kinds_stay_without(
    repo: FleetRepo,
) -> None:
    template = """\
apiVersion: v1
kind: Namespace
metadata: {name: web}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: elsewhere
  namespace: other
  labels: {team: edge, app.kubernetes.io/managed-by: someone}
---
"""
    repo.fleet("test", policy={"clusterKinds": ["Namespace", "ClusterRole"]})
    repo.app("web", {"all.yaml.j2": template})
    namespace, role, configmap = render_node(load_fleet(repo.root), "paris-1")["web"].resources
    assert "namespace" not in namespace["metadata"]
    assert "namespace" not in role["metadata"]
    assert configmap["metadata"]["namespace"] == "other"
    assert configmap["metadata"]["labels"] == {
        "team": "edge",
        "app.kubernetes.io/managed-by": "shoal",
        "shoal.dev/app": "web",
    }


def test_templates_render_in_file_name_order(repo: FleetRepo) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n"
    repo.app("web", {"b.yaml.j2": cm % "b", "a.yaml.j2": cm % "a", "c.yaml.j2": cm % "c"})
    resources = render_node(load_fleet(repo.root), "paris-1")["web"].resources
    assert [r["metadata"]["name"] for r in resources] == ["a", "b", "c"]


def test_an_app_goes_only_to_nodes_its_selector_matches(repo: FleetRepo) -> None:
    repo.app("web", selector="site=paris")
    result = render_fleet(load_fleet(repo.root))
    assert {node: sorted(apps) for node, apps in result.apps.items()} == {
        "lyon-1": [],
        "paris-1": ["web"],
        "paris-2": ["web"],
    }


def test_context_has_node_app_fleet_and_vars(repo: FleetRepo) -> None:
    template = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: ctx}
data:
  node: "{{ node.name }} {{ node.tags.site }}"
  app: "{{ app.name }} {{ app.version }} {{ app.namespace }}"
  fleet: "{{ fleet.name }}"
"""
    repo.app("web", {"ctx.yaml.j2": template}, version="2.0", namespace="ns")
    data = render_node(load_fleet(repo.root), "lyon-1")["web"].resources[0]["data"]
    assert data == {"node": "lyon-1 lyon", "app": "web 2.0 ns", "fleet": "test"}


# --- errors ---------------------------------------------------------------------------


def test_undefined_variable_names_variable_file_line_node_and_app(repo: FleetRepo) -> None:
    repo.app("web", {"deploy.yaml.j2": DEPLOYMENT}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert str(problem) == (
        "apps/web/templates/deploy.yaml.j2:6: undefined variable 'replicas' (node lyon-1, app web)"
    )


@pytest.mark.parametrize(
    "expression", ["{{ node.tags.floor }}", "{{ node.tags['floor'] | to_json }}"]
)
def test_a_missing_tag_names_the_tag(repo: FleetRepo, expression: str) -> None:
    repo.app("web", {"a.yaml.j2": expression}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert problem.message == "undefined variable 'node.tags.floor' (the node has no tag 'floor')"
    assert (problem.line, problem.node, problem.app) == (1, "lyon-1", "web")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ settings.host }}", "undefined variable 'settings.host'"),
        ("{{ settings['host'] }}", "undefined variable 'settings.host'"),
        ("{{ settings.tls.cert | to_yaml }}", "undefined variable 'settings.tls.cert'"),
        ("{{ settings.host.name }}", "undefined variable 'settings.host'"),
        ("{{ servers[3] }}", "undefined variable 'servers[3]'"),
        ("{% for s in servers %}{{ s.port }}{% endfor %}", "undefined variable 'servers[0].port'"),
        (
            "{% set d = {'a': 1} %}{{ d.b }}",
            "undefined: 'dict object' has no attribute or key 'b'",
        ),
    ],
)
def test_a_missing_attribute_or_key_names_the_whole_path(
    repo: FleetRepo, template: str, message: str
) -> None:
    repo.group("lyon", "site=lyon", settings={"port": 1, "tls": {}}, servers=[{"name": "a"}])
    repo.app("web", {"a.yaml.j2": template}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert (problem.message, problem.line) == (message, 1)


def test_template_syntax_error_is_reported_once_for_the_app(repo: FleetRepo) -> None:
    repo.app("web", {"a.yaml.j2": "kind: x\n{% if replicas %}\nfoo: 1\n"})
    result = render_fleet(load_fleet(repo.root))
    [problem] = result.problems
    assert problem.file == "apps/web/templates/a.yaml.j2"
    assert problem.message.startswith("template syntax error: Unexpected end of template")
    assert (problem.node, problem.app) == (None, "web")


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ node.__init__.__globals__ }}",
        "{{ file.__globals__ }}",
    ],
)
def test_sandbox_escape_attempts_are_refused(repo: FleetRepo, escape: str) -> None:
    repo.app("web", {"a.yaml.j2": f"a: {escape}\n"}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert problem.message.startswith("not allowed in the template sandbox: access to attribute")
    assert (problem.file, problem.line) == ("apps/web/templates/a.yaml.j2", 1)


def test_the_context_cannot_be_modified(repo: FleetRepo) -> None:
    repo.app("web", {"a.yaml.j2": "{{ node.tags.update({'x': 1}) }}"}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert problem.message.startswith("not allowed in the template sandbox")


def test_file_reads_inside_the_app_folder(repo: FleetRepo) -> None:
    template = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: conf}
data:
  nginx.conf: {{ file("files/nginx.conf") | to_json }}
"""
    repo.app("web", {"a.yaml.j2": template}, files={"files/nginx.conf": "server { listen 80; }\n"})
    [configmap] = render_node(load_fleet(repo.root), "paris-1")["web"].resources
    assert configmap["data"]["nginx.conf"] == "server { listen 80; }\n"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../../etc/passwd", "file('../../etc/passwd'): only files inside apps/web/ can be read"),
        ("/etc/passwd", "file('/etc/passwd'): only files inside apps/web/ can be read"),
        (
            "files/missing.conf",
            "file('files/missing.conf'): no such file apps/web/files/missing.conf",
        ),
        ("files/link", "file('files/link'): leads outside apps/web/ (symlink)"),
    ],
)
def test_file_cannot_leave_the_app_folder(repo: FleetRepo, path: str, message: str) -> None:
    repo.app("web", {"a.yaml.j2": f'a: {{{{ file("{path}") }}}}\n'}, selector="site=lyon")
    (repo.root / "apps/web/files").mkdir()
    os.symlink(repo.root / "fleet.yaml", repo.root / "apps/web/files/link")  # outside the app
    problem = only_problem(load_fleet(repo.root))
    assert problem.message.startswith(message)
    assert (problem.file, problem.line, problem.node) == (
        "apps/web/templates/a.yaml.j2",
        1,
        "lyon-1",
    )


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("hello: world\n", "rendered document 1 is not a Kubernetes object: apiVersion is missing"),
        ("- 1\n- 2\n", "rendered document 1 is not a Kubernetes object: expected a mapping"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\n",
            "rendered document 2 is not a Kubernetes object: metadata is missing",
        ),
        (
            "apiVersion: v1\nkind: X\nmetadata: {name: [1]}\n",
            "metadata.name is missing or not a string",
        ),
        ("a: [1\n", "rendered output is not valid YAML (line 2 of the output)"),
        (
            "apiVersion: v1\nkind: X\nmetadata: {name: a, labels: {tier: 1}}\n",
            "metadata.labels.tier: keys and values must be strings, got int 1 (quote it, or use"
            " `| string | to_json`)",
        ),
        (
            "apiVersion: v1\nkind: X\nmetadata: {name: a, annotations: {on: yes}}\n",
            "metadata.annotations.True: keys and values must be strings, got bool True",
        ),
    ],
)
def test_output_that_is_not_kubernetes_objects(repo: FleetRepo, output: str, message: str) -> None:
    repo.app("web", {"a.yaml.j2": output}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert message in problem.message
    assert (problem.file, problem.node, problem.app) == (
        "apps/web/templates/a.yaml.j2",
        "lyon-1",
        "web",
    )


def test_the_same_object_twice_is_an_error(repo: FleetRepo) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n"
    repo.app("web", {"a.yaml.j2": cm, "b.yaml.j2": cm}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert problem.message == (
        "the app renders ConfigMap web/same twice"
        " (in apps/web/templates/a.yaml.j2 and apps/web/templates/b.yaml.j2)"
    )


def test_the_same_object_twice_in_one_template_names_it(repo: FleetRepo) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n"
    repo.app("web", {"a.yaml.j2": cm + "---\n" + cm}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert problem.message == (
        "the app renders ConfigMap web/same twice (in apps/web/templates/a.yaml.j2)"
    )


def test_every_failing_template_is_reported(repo: FleetRepo) -> None:
    repo.app("web", {"a.yaml.j2": "{{ nope }}", "b.yaml.j2": "x: 1\n"}, selector="site=lyon")
    result = render_fleet(load_fleet(repo.root))
    assert [(p.file, p.node) for p in result.problems] == [
        ("apps/web/templates/a.yaml.j2", "lyon-1"),
        ("apps/web/templates/b.yaml.j2", "lyon-1"),
    ]
    assert result.apps["lyon-1"] == {}


def test_render_node_and_load_and_render_raise_with_every_problem(repo: FleetRepo) -> None:
    repo.app("web", {"a.yaml.j2": "{{ nope }}"})
    with pytest.raises(FleetError) as caught:
        load_and_render(repo.root)
    assert [p.node for p in caught.value.problems] == ["lyon-1", "paris-1", "paris-2"]
    with pytest.raises(FleetError) as caught:
        render_node(load_fleet(repo.root), "nowhere")
    assert caught.value.problems[0].message == "no node named 'nowhere'"


# --- the memo -------------------------------------------------------------------------


def test_nodes_with_equal_inputs_share_one_render(repo: FleetRepo) -> None:
    repo.app("web", {"deploy.yaml.j2": DEPLOYMENT}, replicas=1)
    result = render_fleet(load_fleet(repo.root))
    assert (result.renders, result.reused) == (2, 1)  # paris-1 and paris-2 share
    assert result.apps["paris-1"]["web"] is result.apps["paris-2"]["web"]
    assert result.apps["lyon-1"]["web"].resources[0]["spec"] == {"replicas": 1}


def test_a_template_reading_node_name_renders_per_node(repo: FleetRepo) -> None:
    repo.app("web")  # the default template reads node.name
    result = render_fleet(load_fleet(repo.root))
    assert result.renders == 3
    names = {n: a["web"].resources[0]["data"]["node"] for n, a in result.apps.items()}
    assert names == {"lyon-1": "lyon-1", "paris-1": "paris-1", "paris-2": "paris-2"}


def test_inputs_the_templates_do_not_read_do_not_split_the_memo(repo: FleetRepo) -> None:
    repo.node("paris-3", vars={"unused": 1}, site="paris", role="camera")
    repo.app("web", {"deploy.yaml.j2": DEPLOYMENT}, replicas=1)
    result = render_fleet(load_fleet(repo.root))
    assert result.renders == 2  # role and unused vars are not read: paris-3 shares too
    assert result.apps["paris-3"]["web"] is result.apps["paris-1"]["web"]


def test_memoized_equals_naive(repo: FleetRepo) -> None:
    repo.node("nice-1", vars={"replicas": 7}, site="nice", role="camera")
    repo.group("cameras", "role=camera", priority=5, replicas=4, extra={"a": 1})
    repo.app("web", {"deploy.yaml.j2": DEPLOYMENT}, replicas=1)
    repo.app(
        "agent",
        {
            "a.yaml.j2": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
            "data: {site: '{{ node.tags.site }}', tags: {{ node.tags.items() | list | to_json }}}\n",
            "b.yaml.j2": "{% include 'partials/b.j2' %}",
            "partials/b.j2": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"
            "data: {x: '{{ extra | default({}) | to_json }}'}\n",
        },
    )
    fleet = load_fleet(repo.root)
    memo, naive = render_fleet(fleet), render_fleet(fleet, memoize=False)
    assert not memo.problems
    digests = {n: {a: d.digest for a, d in apps.items()} for n, apps in memo.apps.items()}
    assert digests == {n: {a: d.digest for a, d in apps.items()} for n, apps in naive.apps.items()}
    assert memo.renders < naive.renders
    assert memo.apps["nice-1"]["agent"].resources[1]["data"] == {"x": '{"a": 1}'}


def test_document_is_a_valid_desired_document(repo: FleetRepo) -> None:
    import schemas

    repo.app("web", {"deploy.yaml.j2": DEPLOYMENT}, replicas=1)
    document = render_fleet(load_fleet(repo.root)).document("paris-1", "abc", 5)
    data = document.to_dict()
    assert list(schemas.validator("desired").iter_errors(data)) == []
    assert (data["node"], data["revision"], data["generation"]) == ("paris-1", "abc", 5)


@pytest.mark.parametrize("template", ["{{ [1, 2] | random }}", "{{ lipsum() }}"])
def test_random_output_is_refused_so_digests_stay_stable(repo: FleetRepo, template: str) -> None:
    repo.app("web", {"a.yaml.j2": template}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert problem.message in (
        "template syntax error: No filter named 'random'.",
        "undefined variable 'lipsum'",
    )


def test_an_error_in_an_included_partial_names_the_partial(repo: FleetRepo) -> None:
    repo.app(
        "web",
        {
            "a.yaml.j2": "# header\n{% include 'partials/probe.j2' %}\n",
            "partials/probe.j2": "apiVersion: v1\n{{ 1 / 0 }}\n",
        },
        selector="site=lyon",
    )
    fleet = load_fleet(repo.root)
    assert fleet.apps["web"].templates == (
        "apps/web/templates/a.yaml.j2",
    )  # partials: include only
    problem = only_problem(fleet)
    assert str(problem) == (
        "apps/web/templates/partials/probe.j2:2: ZeroDivisionError: division by zero "
        "(node lyon-1, app web)"
    )


def test_a_broken_app_fails_only_the_nodes_that_run_it(repo: FleetRepo) -> None:
    repo.app("web", {"deploy.yaml.j2": DEPLOYMENT}, replicas=1)
    repo.app("broken", {"a.yaml.j2": "{% if %}"}, selector="site=lyon")
    fleet = load_fleet(repo.root)
    assert sorted(render_node(fleet, "paris-1")) == ["web"]
    with pytest.raises(FleetError) as caught:
        render_node(fleet, "lyon-1")
    [problem] = caught.value.problems
    assert (problem.file, problem.app, problem.node) == (
        "apps/broken/templates/a.yaml.j2",
        "broken",
        None,
    )
    # validating the whole fleet reports it even when no node runs the app
    repo.app("broken", {"a.yaml.j2": "{% if %}"}, selector="site=nowhere")
    assert [p.app for p in render_fleet(load_fleet(repo.root)).problems] == ["broken"]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("'x' * 10 ** 9", "repeating a string or list to over a million items"),
        ("[1, 2] * 999999", "repeating a string or list to over a million items"),
        ("9 ** 99999", "9 ** 99999 is too large"),
    ],
)
def test_memory_bombs_are_refused(repo: FleetRepo, expression: str, message: str) -> None:
    repo.app("web", {"a.yaml.j2": f"a: {{{{ {expression} }}}}\n"}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert problem.message == f"not allowed in the template sandbox: {message}"


def test_ordinary_arithmetic_still_works(repo: FleetRepo) -> None:
    template = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\n"
        "data: {a: '{{ 2 ** 10 }}', b: '{{ \"ab\" * 3 }}', c: '{{ 3 * 4 }}'}\n"
    )
    repo.app("web", {"a.yaml.j2": template})
    [configmap] = render_node(load_fleet(repo.root), "lyon-1")["web"].resources
    assert configmap["data"] == {"a": "1024", "b": "ababab", "c": "12"}


@pytest.mark.parametrize(
    "expression",
    [
        "{{ missing | to_json }}",
        "{{ missing | to_yaml }}",
        "{{ missing | hash }}",
        "{{ missing | b64encode }}",
        "{{ {'a': [missing]} | to_json }}",
        "{{ {'a': missing} | to_yaml }}",
        "{{ [missing] | hash }}",
        "{{ missing | combine({}) }}",
        "{{ {} | combine(missing) }}",
    ],
)
def test_an_undefined_value_through_a_filter_is_an_undefined_variable(
    repo: FleetRepo, expression: str
) -> None:
    repo.app("web", {"a.yaml.j2": "# a comment\n" + expression}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert str(problem) == (
        "apps/web/templates/a.yaml.j2:2: undefined variable 'missing' (node lyon-1, app web)"
    )


def test_the_shipped_template_on_a_node_without_a_model_tag(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    shutil.copytree(init.template_dir(), root)
    (root / "nodes" / "lyon-new-01.yaml").write_text("name: lyon-new-01\ntags: {site: lyon}\n")
    problems = render_fleet(load_fleet(root), ["lyon-new-01"]).problems
    collector = [p for p in problems if p.app == "sensor-collector"]
    assert [(p.file, p.line) for p in collector] == [
        ("apps/sensor-collector/templates/daemonset.yaml.j2", 32)
    ]
    assert collector[0].message == (
        "undefined variable 'node.tags.model' (the node has no tag 'model')"
    )


def test_two_apps_rendering_the_same_object_on_a_node_is_an_error(repo: FleetRepo) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same, namespace: shared}\n"
    repo.app("web", {"a.yaml.j2": cm}, selector="site=paris")
    repo.app("metrics", {"b.yaml.j2": cm}, selector="role=gateway")
    for memoize in (True, False):
        result = render_fleet(load_fleet(repo.root), memoize=memoize)
        assert sorted((p.file, p.node, p.app) for p in result.problems) == [
            ("apps/web/app.yaml", "paris-1", "web"),
            ("apps/web/app.yaml", "paris-2", "web"),
        ]
        assert result.problems[0].message == (
            "ConfigMap shared/same is also rendered by app metrics: an object can belong"
            " to one app only (rename it, or move it to another namespace)"
        )


def test_a_template_rendering_too_much_stops_with_a_problem(repo: FleetRepo) -> None:
    # Two nested loops within the sandbox's range limit run 10**10 times: without a cap
    # on the output, validate would stall (and fill memory) instead of reporting it.
    loop = "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}"
    repo.app("web", {"a.yaml.j2": loop}, selector="site=lyon")
    problem = only_problem(load_fleet(repo.root))
    assert (problem.file, problem.node, problem.app) == (
        "apps/web/templates/a.yaml.j2",
        "lyon-1",
        "web",
    )
    assert problem.message == "renders more than 4,000,000 characters: a loop too large?"


def test_file_of_binary_data_says_it_reads_text_only(repo: FleetRepo) -> None:
    repo.app("web", {"a.yaml.j2": 'a: {{ file("files/logo.png") }}\n'}, selector="site=lyon")
    (repo.root / "apps/web/files").mkdir()
    (repo.root / "apps/web/files/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xd0\x00")
    problem = only_problem(load_fleet(repo.root))
    assert problem.message == (
        "file('files/logo.png'): not UTF-8 text (byte 0): file() reads text files only;"
        " keep binary data base64-encoded in the file and use it as is"
    )
    assert (problem.file, problem.line, problem.node) == (
        "apps/web/templates/a.yaml.j2",
        1,
        "lyon-1",
    )
