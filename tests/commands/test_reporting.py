"""`reporting.load_node`: the fleet and node a one-node command works on, or why not."""

from __future__ import annotations

import pytest

from controller.commands.reporting import load_node
from tests.support.render import FleetRepo


def test_a_known_node(fleet_repo: FleetRepo) -> None:
    loaded = load_node(str(fleet_repo.root), "paris-1")
    assert loaded is not None
    fleet, node = loaded
    assert (node.name, node.file) == ("paris-1", "nodes/paris-1.yaml")
    assert fleet.nodes["paris-1"] is node


def test_an_unknown_node_is_reported_with_close_names(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_node(str(fleet_repo.root), "lyon-2") is None
    err = capsys.readouterr().err
    assert err.startswith("error: no node named 'lyon-2' (did you mean: lyon-1")


def test_a_repository_that_does_not_load_is_reported(
    fleet_repo: FleetRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_repo.write("nodes/typo.yaml", "name: typo\ntagz: {}\n")
    assert load_node(str(fleet_repo.root), "paris-1") is None
    err = capsys.readouterr().err
    assert "nodes/typo.yaml:2: unknown key 'tagz'" in err
    assert "error: " in err and "1 problem(s), see above" in err
