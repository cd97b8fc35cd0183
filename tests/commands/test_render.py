"""`shoal render --node`: the Desired document a node would receive."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

import schemas
from shadow import DesiredDocument
from shoal.cli import main
from tests.support.render import FleetRepo


def render(repo: FleetRepo, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    assert main(["render", str(repo.root), *extra]) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "json" in extra else yaml.safe_load(out)


def test_yaml_document_valid_against_the_desired_schema(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    document = render(fleet_repo, capsys, "--node", "paris-2")
    assert list(schemas.validator("desired").iter_errors(document)) == []
    assert (document["node"], document["revision"], document["generation"]) == (
        "paris-2",
        "working-tree",
        0,
    )
    assert sorted(document["apps"]) == ["inference", "web"]
    assert document["apps"]["inference"]["resources"][0]["data"] == {
        "threads": "4",
        "model": "large.tflite",
    }
    DesiredDocument.from_dict(document)  # digests verify


def test_json_and_one_app(fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]) -> None:
    document = render(fleet_repo, capsys, "--node", "lyon-1", "--app", "web", "--format", "json")
    assert list(document["apps"]) == ["web"]
    assert document["apps"]["web"]["resources"][0]["spec"]["replicas"] == 5
    assert DesiredDocument.from_dict(document).apps["web"].version == "1.4.2"


def test_revision_is_the_git_head(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(fleet_repo.root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "fleet")
    document = render(fleet_repo, capsys, "--node", "paris-1")
    assert document["revision"] == git("rev-parse", "HEAD")


def test_unknown_node_suggests_close_names(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(fleet_repo.root), "--node", "paris-3"]) == 1
    assert capsys.readouterr().err == (
        "error: no node named 'paris-3' (did you mean: paris-2, paris-1?) "
        "(known: lyon-1, paris-1, paris-2)\n"
    )


def test_an_app_the_node_does_not_run(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(fleet_repo.root), "--node", "paris-1", "--app", "sensors"]) == 1
    assert capsys.readouterr().err == (
        "error: app sensors does not run on node paris-1: its selector 'site=lyon' fails at "
        "'site=lyon' (apps/sensors/app.yaml)\n"
    )
    assert main(["render", str(fleet_repo.root), "--node", "paris-1", "--app", "nope"]) == 1
    assert "no app named 'nope' (known: inference, sensors, web)" in capsys.readouterr().err


def test_render_errors_exit_1_naming_file_node_app(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.app("web", {"deploy.yaml.j2": "a: {{ file('../../etc/passwd') }}\n"})
    assert main(["render", str(fleet_repo.root), "--node", "paris-1"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        "apps/web/templates/deploy.yaml.j2:1: file('../../etc/passwd'): only files inside apps/web/"
    )
    assert err.rstrip().endswith("(node paris-1, app web)")


def test_load_errors_exit_1(fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]) -> None:
    fleet_repo.write("nodes/paris-1.yaml", "name: paris-1\ntags: {site: [paris]}\n")
    assert main(["render", str(fleet_repo.root), "--node", "paris-1"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        "nodes/paris-1.yaml:2: tags.site: must be a string, got a list (['paris'])"
    )
