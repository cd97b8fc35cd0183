"""Variable precedence, rule by rule (docs/fleet-repository.md, "Variables"): app
defaults < fleet < groups (ascending priority, then name) < node; whole values — as
Ansible's role defaults < group_vars/all < group_vars/<group> < host_vars
(tests/conformance checks the same against ansible-playbook itself)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from controller.fleet.loading import load_fleet
from controller.fleet.variables import context_values, layers, merge_layers, node_vars
from controller.render.rendering import render_node
from tests.support.render import FleetRepo

SHOW = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: show}
data:
  value: {{ value | to_json | to_json }}
"""


@pytest.fixture
def repo(tmp_path: Path) -> FleetRepo:
    repo = FleetRepo(tmp_path / "fleet")
    repo.node("n1", site="paris", model="rpi4")
    return repo


def rendered_value(repo: FleetRepo) -> Any:
    import json

    apps = render_node(load_fleet(repo.root), "n1")
    return json.loads(apps["show"].resources[0]["data"]["value"])


def origin(repo: FleetRepo, app: str | None = "show") -> str:
    fleet = load_fleet(repo.root)
    merged = node_vars(fleet, fleet.nodes["n1"], fleet.apps[app] if app else None)
    return merged.origins["value"].describe()


def test_app_defaults_are_the_default(repo: FleetRepo) -> None:
    repo.app("show", {"show.yaml.j2": SHOW}, value="app")
    assert rendered_value(repo) == "app"
    assert origin(repo) == "app show"


def test_fleet_vars_override_app_defaults_as_group_vars_all_overrides_role_defaults(
    repo: FleetRepo,
) -> None:
    repo.fleet(vars={"value": "fleet"})
    repo.app("show", {"show.yaml.j2": SHOW}, value="app")
    assert rendered_value(repo) == "fleet"
    assert origin(repo) == "fleet test"
    fleet = load_fleet(repo.root)
    merged = node_vars(fleet, fleet.nodes["n1"], fleet.apps["show"])
    assert [layer.describe() for layer in merged.overridden["value"]] == ["app show"]


def test_groups_override_app_defaults(repo: FleetRepo) -> None:
    repo.app("show", {"show.yaml.j2": SHOW}, value="app")
    repo.group("paris", "site=paris", value="group")
    assert rendered_value(repo) == "group"
    assert origin(repo) == "group paris (priority 0)"


def test_a_group_applies_only_to_nodes_it_selects(repo: FleetRepo) -> None:
    repo.app("show", {"show.yaml.j2": SHOW}, value="app")
    repo.group("lyon", "site=lyon", value="lyon")
    assert rendered_value(repo) == "app"


def test_higher_priority_group_wins_whatever_the_names(repo: FleetRepo) -> None:
    repo.app("show", {"show.yaml.j2": SHOW})
    repo.group("a-site", "site=paris", priority=10, value="priority 10")
    repo.group("z-model", "model=rpi4", priority=5, value="priority 5")
    assert rendered_value(repo) == "priority 10"
    assert origin(repo) == "group a-site (priority 10)"


def test_equal_priorities_are_ordered_by_name_the_last_wins(repo: FleetRepo) -> None:
    repo.app("show", {"show.yaml.j2": SHOW})
    repo.group("b-site", "site=paris", value="b")
    repo.group("a-model", "model=rpi4", value="a")
    assert rendered_value(repo) == "b"


def test_node_vars_override_everything(repo: FleetRepo) -> None:
    repo.fleet(vars={"value": "fleet"})
    repo.app("show", {"show.yaml.j2": SHOW}, value="app")
    repo.group("paris", "site=paris", priority=100, value="group")
    repo.node("n1", vars={"value": "node"}, site="paris")
    assert rendered_value(repo) == "node"
    fleet = load_fleet(repo.root)
    merged = node_vars(fleet, fleet.nodes["n1"], fleet.apps["show"])
    assert [layer.describe() for layer in merged.overridden["value"]] == [
        "app show",
        "fleet test",
        "group paris (priority 100)",
    ]
    assert merged.origins["value"].file == "nodes/n1.yaml"


def test_a_higher_layer_replaces_a_dict_whole(repo: FleetRepo) -> None:
    repo.app("show", {"show.yaml.j2": SHOW}, value={"a": 1, "b": {"c": 2}})
    repo.group("paris", "site=paris", value={"b": {"d": 3}})
    assert rendered_value(repo) == {"b": {"d": 3}}


def test_combine_merges_for_those_who_want_it(repo: FleetRepo) -> None:
    template = SHOW.replace("{{ value |", "{{ defaults | combine(value) |")
    repo.app("show", {"show.yaml.j2": template}, defaults={"a": 1, "b": {"c": 2}})
    repo.group("paris", "site=paris", value={"b": {"d": 3}})
    assert rendered_value(repo) == {"a": 1, "b": {"c": 2, "d": 3}}


def test_fleet_vars_stay_readable_under_fleet_vars(repo: FleetRepo) -> None:
    repo.fleet(vars={"value": "fleet"})
    template = SHOW.replace("{{ value |", "{{ [value, fleet.vars.value, fleet.name] |")
    repo.app("show", {"show.yaml.j2": template})
    repo.node("n1", vars={"value": "node"}, site="paris")
    assert rendered_value(repo) == ["node", "fleet", "test"]


def test_app_defaults_are_seen_only_by_their_own_app(repo: FleetRepo) -> None:
    repo.app("other", value="other")
    template = SHOW.replace("{{ value |", "{{ (value if value is defined else 'unset') |")
    repo.app("show", {"show.yaml.j2": template})
    assert rendered_value(repo) == "unset"


def test_null_replaces_a_lower_value(repo: FleetRepo) -> None:
    repo.app("show", {"show.yaml.j2": SHOW}, value="app")
    repo.group("paris", "site=paris", value="group")
    repo.node("n1", vars={"value": None}, site="paris")
    assert rendered_value(repo) is None


def test_the_documented_order_is_the_order_applied(repo: FleetRepo) -> None:
    """docs/fleet-repository.md is the one place precedence is written: it must match."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "fleet-repository.md").read_text()
    section = docs.split("\n## Variables\n", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\d+\. \*\*([a-z ]+)\*\*", section, re.MULTILINE)
    assert documented == ["app defaults", "fleet vars", "groups", "node vars"]
    repo.app("show", {"show.yaml.j2": SHOW})
    repo.group("paris", "site=paris")
    fleet = load_fleet(repo.root)
    node = fleet.nodes["n1"]
    kinds = [
        layer.kind for layer in layers(fleet, node, fleet.apps["show"], [fleet.groups["paris"]])
    ]
    assert kinds == ["app", "fleet", "group", "node"]


def test_each_layer_names_its_ansible_equivalent(repo: FleetRepo) -> None:
    repo.app("show", {"show.yaml.j2": SHOW})
    repo.group("site-paris", "site=paris", priority=10)
    fleet = load_fleet(repo.root)
    node = fleet.nodes["n1"]
    named = [
        layer.ansible() for layer in layers(fleet, node, fleet.apps["show"], fleet.groups_for(node))
    ]
    assert named == [
        "roles/show/defaults/main.yml",
        "group_vars/all",
        "group_vars/site-paris (priority 10)",
        "host_vars/n1",
    ]


def test_rendering_and_explain_merge_in_the_same_order(repo: FleetRepo) -> None:
    repo.fleet(vars={"a": "fleet", "b": "fleet", "c": "fleet"})
    repo.app("show", {"show.yaml.j2": SHOW}, a="app", d="app")
    repo.group("paris", "site=paris", b="paris", c="paris")
    repo.group("rpi4", "model=rpi4", c="rpi4")
    repo.node("n1", vars={"e": "node"}, site="paris", model="rpi4")
    fleet = load_fleet(repo.root)
    node, app = fleet.nodes["n1"], fleet.apps["show"]
    groups = fleet.groups_for(node)
    merged = merge_layers(layers(fleet, node, app, groups)).values
    assert merged == context_values(fleet, node, app, groups)
    assert merged == {"a": "fleet", "b": "paris", "c": "rpi4", "d": "app", "e": "node"}


def test_names_ansible_reserves_are_ordinary_variables(repo: FleetRepo) -> None:
    """docs: only node, app and fleet are reserved; Ansible's magic names are plain data."""
    magic = {"inventory_hostname": "x", "hostvars": {"a": 1}, "omit": 1, "ansible_host": "h"}
    repo.fleet(vars=magic)
    template = SHOW.replace("{{ value |", "{{ [inventory_hostname, hostvars, omit, ansible_host] |")
    repo.app("show", {"show.yaml.j2": template})
    assert rendered_value(repo) == ["x", {"a": 1}, 1, "h"]
