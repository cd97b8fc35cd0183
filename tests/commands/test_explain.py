"""`shoal explain --node`: which groups and apps match, why not, and where vars come from."""

from __future__ import annotations

import json

import pytest

from shoal.cli import main
from tests.support.render import FleetRepo


def test_text_explains_selection_and_variable_origins(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(fleet_repo.root), "--node", "paris-1"]) == 0
    out = capsys.readouterr().out
    assert "tags: model=rpi4, site=paris" in out
    assert "  + paris (priority 10)  (groups/paris.yaml, selector 'site=paris')" in out
    assert (
        "  - rpi5 (priority 0)  (groups/rpi5.yaml): selector 'model=rpi5' fails at "
        "'model=rpi5' (model=rpi4)"
    ) in out
    assert "  - sensors  (apps/sensors/app.yaml): selector 'site=lyon' fails at 'site=lyon'" in out
    assert (
        "  replicas   = 3   <- group paris (priority 10) (groups/paris.yaml) "
        "[Ansible: group_vars/paris (priority 10)]; overrides fleet test [group_vars/all]"
    ) in out
    assert (
        "  threads    = 2   <- group rpi4 (priority 0) (groups/rpi4.yaml) "
        "[Ansible: group_vars/rpi4 (priority 0)]"
    ) in out
    assert "role defaults < group_vars/all < group_vars/<group> by priority, then name" in out
    assert "app web defaults, as they end up on this node:" in out
    # The app's default (2) is the lowest layer: the fleet's and the group's replace it.
    web = out.split("app web defaults, as they end up on this node:\n", 1)[1]
    assert web.splitlines()[0] == (
        "  replicas = 3   <- group paris (priority 10) (groups/paris.yaml) "
        "[Ansible: group_vars/paris (priority 10)]; overrides app web "
        "[roles/web/defaults/main.yml], fleet test [group_vars/all]"
    )


def test_json_gives_layer_and_file_of_every_variable(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(fleet_repo.root), "--node", "lyon-1", "--format", "json"]) == 0
    explanation = json.loads(capsys.readouterr().out)
    replicas = explanation["variables"]["replicas"]
    assert replicas["value"] == 5
    assert (replicas["from"]["layer"], replicas["from"]["file"]) == ("node", "nodes/lyon-1.yaml")
    assert [o["layer"] for o in replicas["overrides"]] == ["fleet"]
    web = next(a for a in explanation["apps"] if a["name"] == "web")
    assert web["variables"]["replicas"]["from"]["layer"] == "node"
    assert [o["layer"] for o in web["variables"]["replicas"]["overrides"]] == ["app", "fleet"]
    assert [o["ansible"] for o in web["variables"]["replicas"]["overrides"]] == [
        "roles/web/defaults/main.yml",
        "group_vars/all",
    ]
    assert replicas["from"]["ansible"] == "host_vars/lyon-1"
    paris = next(g for g in explanation["groups"] if g["name"] == "paris")
    assert paris == {
        "name": "paris",
        "file": "groups/paris.yaml",
        "priority": 10,
        "selector": "site=paris",
        "matches": False,
        "failed": "site=paris",
        "tag": "site=lyon",
    }


def test_unknown_node(fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(fleet_repo.root), "--node", "lyon"]) == 1
    assert "no node named 'lyon' (did you mean: lyon-1?)" in capsys.readouterr().err
