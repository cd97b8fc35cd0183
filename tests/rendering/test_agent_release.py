"""`agent:` in the fleet repository: which agent release each node's document carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.fleet.agent import agent_release
from controller.fleet.loading import load_fleet
from controller.fleet.problems import FleetError
from controller.render.rendering import render_fleet
from shadow import AgentRelease
from tests.support.render import FleetRepo

SHA_A, SHA_B = "a" * 64, "b" * 64


@pytest.fixture
def repo(tmp_path: Path) -> FleetRepo:
    repo = FleetRepo(tmp_path / "fleet")
    repo.fleet(agent={"version": "0.2.0", "wheelhouse": "file:///srv/wheels/", "sha256": SHA_A})
    repo.node("paris-1", site="paris", ring="canary")
    repo.node("paris-2", site="paris")
    repo.node("lyon-1", site="lyon")
    repo.app("web")
    return repo


def releases(repo: FleetRepo) -> dict[str, AgentRelease]:
    fleet = load_fleet(repo.root)
    found = {name: agent_release(fleet, node) for name, node in fleet.nodes.items()}
    assert all(release is not None for release in found.values())
    return {name: release for name, release in found.items() if release is not None}


def test_the_fleet_release_reaches_every_node_with_the_wheel_url(repo: FleetRepo) -> None:
    found = releases(repo)
    assert {r.version for r in found.values()} == {"0.2.0"}
    release = found["lyon-1"]
    assert release.url == "file:///srv/wheels/shoal-0.2.0-py3-none-any.whl"
    assert release.sha256 == SHA_A


def test_a_group_overrides_the_fleet_and_a_node_the_group_each_block_whole(repo: FleetRepo) -> None:
    repo.write_yaml(
        "groups/canary.yaml",
        {
            "selector": "ring=canary",
            "priority": 10,
            "agent": {"version": "0.3.0", "image": "e:0.3.0"},
        },
    )
    repo.write_yaml(
        "groups/paris.yaml",
        {
            "selector": "site=paris",
            "agent": {"version": "0.2.5", "url": "https://x/a.whl", "sha256": SHA_B},
        },
    )
    found = releases(repo)
    assert found["paris-1"].version == "0.3.0"  # priority 10 beats 0
    assert found["paris-1"].url == "" and found["paris-1"].sha256 == ""
    assert found["paris-2"].url == "https://x/a.whl"
    assert found["lyon-1"].version == "0.2.0"
    repo.write_yaml(
        "nodes/lyon-1.yaml",
        {"name": "lyon-1", "tags": {"site": "lyon"}, "agent": {"version": "0.1.0"}},
    )
    assert releases(repo)["lyon-1"].version == "0.1.0"


def test_the_release_is_in_the_document_and_changes_its_digest(repo: FleetRepo) -> None:
    render = render_fleet(load_fleet(repo.root))
    before = render.document("lyon-1", "r1")
    assert before.agent is not None and before.to_dict()["agent"]["version"] == "0.2.0"
    repo.fleet(agent={"version": "0.2.1", "wheelhouse": "file:///srv/wheels", "sha256": SHA_A})
    after = render_fleet(load_fleet(repo.root)).document("lyon-1", "r2")
    assert after.digest != before.digest
    assert after.agent is not None and after.agent.url.endswith("shoal-0.2.1-py3-none-any.whl")


def test_a_wheel_without_its_sha256_is_a_problem_naming_the_file(repo: FleetRepo) -> None:
    repo.write_yaml(
        "groups/paris.yaml",
        {"selector": "site=paris", "agent": {"version": "0.4.0", "wheelhouse": "/w"}},
    )
    with pytest.raises(FleetError) as caught:
        load_fleet(repo.root)
    [problem] = caught.value.problems
    assert problem.file == "groups/paris.yaml"
    assert "sha256" in problem.message
