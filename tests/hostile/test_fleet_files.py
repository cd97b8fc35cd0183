"""Hostile fleet files and templates in `shoal validate`: each is one located problem,
in bounded time, never a hang, a RecursionError or a crash."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shoal.cli import main
from tests.support.render import FleetRepo

# Nine aliases of nine aliases ... : 9**7 = 4.8 million strings from 254 bytes.
LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['x'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f"], "abcdefg", strict=True)
)


@pytest.fixture
def repo(tmp_path: Path) -> FleetRepo:
    repo = FleetRepo(tmp_path / "fleet")
    repo.node("lyon-1", site="lyon")
    return repo


def validate(repo: FleetRepo, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["validate", str(repo.root)]) == 1
    return capsys.readouterr().out.splitlines()


def test_a_billion_laughs_group_file_is_refused_at_once(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write(
        "groups/laughs.yaml", "selector: site=lyon\nvars:\n  " + LAUGHS.replace("\n", "\n  ")
    )
    started = time.monotonic()
    lines = validate(repo, capsys)
    assert time.monotonic() - started < 10  # it took 26 s with the aliases expanded
    assert lines == [
        "groups/laughs.yaml:8: holds more than 250,000 values with its aliases expanded "
        "(the size limit; an alias of an alias of ... multiplies)"
    ]


def test_a_self_referencing_alias_names_its_line(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write("groups/loop.yaml", "selector: site=lyon\nvars:\n  me: &me\n    again: *me\n")
    assert validate(repo, capsys) == [
        "groups/loop.yaml:3: an alias refers to a value that contains it (anchored on line 3):"
        " it would never end"
    ]


@pytest.mark.parametrize(
    "nesting",
    [" " + "[" * 100_000 + "]" * 100_000, "\n    " + "- " * 100_000 + "x"],
    ids=["flow", "block"],
)
def test_deep_nesting_is_refused_before_it_crashes_the_parser(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str], nesting: str
) -> None:
    repo.write("nodes/deep.yaml", f"name: deep\ntags: {{}}\nvars:\n  x:{nesting}\n")
    [line] = validate(repo, capsys)
    assert line.startswith("nodes/deep.yaml:")
    assert line.endswith(": nested more than 64 levels deep (the depth limit)")


def test_a_file_over_the_size_limit_is_not_read(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.write("nodes/big.yaml", "name: big\n#" + "x" * (4 * 1024 * 1024) + "\n")
    assert validate(repo, capsys) == [
        "nodes/big.yaml: the file is 4,194,316 bytes, over the size limit of 4,194,304 bytes"
    ]


def test_aliases_in_a_template_output_are_bounded_too(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.app(
        "web", {"a.yaml.j2": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n" + LAUGHS}
    )
    [line] = validate(repo, capsys)
    assert line.startswith("apps/web/templates/a.yaml.j2: rendered output is not valid YAML")
    assert "with its aliases expanded" in line and line.endswith("(node lyon-1, app web)")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {port: 8080}\n",
            "apps/web/templates/a.yaml.j2: data.port: ConfigMap c: must be string "
            "(the Kubernetes 1.33 API schema) (node lyon-1, app web)",
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: '3'}\n",
            "apps/web/templates/a.yaml.j2: spec.replicas: Deployment d: must be integer "
            "(the Kubernetes 1.33 API schema) (node lyon-1, app web)",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: http}]}\n",
            "apps/web/templates/a.yaml.j2: spec.ports[0].port: Service s: must be integer "
            "(the Kubernetes 1.33 API schema) (node lyon-1, app web)",
        ),
    ],
    ids=["number-in-configmap-data", "replicas-as-string", "port-as-name"],
)
def test_objects_the_api_server_would_refuse_are_problems(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str], template: str, expected: str
) -> None:
    repo.app("web", {"a.yaml.j2": template})
    assert validate(repo, capsys) == [expected]


def test_a_custom_resource_is_allowed_with_a_note(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.app(
        "web", {"a.yaml.j2": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"}
    )
    assert main(["validate", str(repo.root)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: 1 nodes")
    assert (
        "note: apps/web/templates/a.yaml.j2: Widget (example.com/v1) is not a kind of the "
        "Kubernetes 1.33 API (a custom resource?): its fields are not checked"
    ) in err.splitlines()


def test_the_kubernetes_version_is_the_fleets_choice(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.fleet("test", kubernetesVersion="1.29")
    repo.app(
        "web", {"a.yaml.j2": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: 1}\n"}
    )
    assert main(["validate", "--format", "json", str(repo.root)]) == 1
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert problem["message"] == "ConfigMap c: must be string (the Kubernetes 1.29 API schema)"
    assert problem["where"] == "data.a"


def test_a_value_json_cannot_hold_is_refused(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by fuzzing: `!!binary` made bytes (a key, even) that only failed later.
    repo.write("nodes/odd.yaml", "name: odd\ntags: {}\nvars:\n  !!binary aGk=: 1\n")
    assert validate(repo, capsys) == [
        "nodes/odd.yaml:1: holds a value of type bytes (!!binary): only JSON-compatible data "
        "(mappings, lists, strings, numbers, booleans, null) is allowed"
    ]


def test_a_tag_its_value_cannot_hold_names_file_and_line(
    repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    # `!!bool foo` made PyYAML raise a KeyError: a crash, in a fleet file or a render.
    repo.write("nodes/odd.yaml", "name: odd\ntags: {}\nvars:\n  flag: !!bool foo\n")
    repo.app(
        "web",
        {
            "a.yaml.j2": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: !!int nope\n"
        },
    )
    problems = validate(repo, capsys)
    assert (
        "nodes/odd.yaml:4: invalid YAML: 'foo' is not a valid !!bool"
        " (drop the tag, or quote the value)"
    ) in problems
    assert any(
        p.startswith(
            "apps/web/templates/a.yaml.j2: rendered output is not valid YAML (line 5 of the"
            " output): 'nope' is not a valid !!int (drop the tag, or quote the value) (node "
        )
        for p in problems
    )
