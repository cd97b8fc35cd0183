"""shoal's variables are Ansible's: random fleets, rendered by shoal and run through the
real `ansible-playbook`, give every (node, app) the same variables, value for value.

Each fleet (tests/conformance/fleets.py) is rendered by shoal — the memoized render,
each app's template dumping every variable it sees — and translated into an Ansible
project (tests/conformance/oracle.py) whose roles' tasks dump the same expression.
Both dumps must be equal, and so must `shoal explain`'s merge (`node_vars`). A few
hand-written fleets pin the rules the docs' precedence table states.

SHOAL_CONFORMANCE_FLEETS=N (default 200) sets how many random fleets, and
SHOAL_CONFORMANCE_SEED=S (default 0) the first seed: a failure names its seed, and
`SHOAL_CONFORMANCE_SEED=<seed> SHOAL_CONFORMANCE_FLEETS=1` reruns that fleet. A long run
needs pytest's per-test timeout lifted and `-s` prints what was compared:
`SHOAL_CONFORMANCE_FLEETS=3000 python -m pytest tests/conformance --timeout=0 -s`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ansible.vars.reserved import is_reserved_name

from controller.fleet.loading import load_fleet
from controller.fleet.variables import MergedVars, node_vars
from controller.render.rendering import render_fleet
from tests.conformance import fleets, oracle
from tests.conformance.fleets import AppSpec, FleetSpec, GroupSpec, NodeSpec

FLEETS = int(os.environ.get("SHOAL_CONFORMANCE_FLEETS", "200"))
FIRST_SEED = int(os.environ.get("SHOAL_CONFORMANCE_SEED", "0"))
PER_RUN = 40  # fleets per ansible-playbook run (start-up is about a second)
LITERAL = 2  # fleets also run alone, translated with group_vars/all

# Names Ansible gives a meaning of its own (its docs' "special variables").
MAGIC = {
    "hostvars",
    "groups",
    "group_names",
    "inventory_hostname",
    "inventory_hostname_short",
    "inventory_dir",
    "inventory_file",
    "play_hosts",
    "playbook_dir",
    "role_name",
    "role_path",
    "omit",
    "environment",
}

CASES = [
    # App defaults are the lowest layer: the fleet's value wins (role defaults < group_vars/all).
    FleetSpec(
        900001,
        {"replicas": 1},
        [NodeSpec("f900001-n0", {}, {})],
        [],
        [AppSpec("web", "", {"replicas": 3, "image_tag": "1.0"})],
    ),
    # Equal priorities: ordered by name as Python (and Ansible) sort strings; the last wins.
    FleetSpec(
        900002,
        {},
        [NodeSpec("f900002-n0", {"site": "paris"}, {})],
        [
            GroupSpec(name, "site=paris", 0, {"winner": name})
            for name in ("site-paris", "site_paris", "site.paris", "Site-Lyon", "a", "A1")
        ],
        [AppSpec("web", "", {})],
    ),
    # A higher priority wins whatever the names; a negative one sits below the default 0.
    FleetSpec(
        900003,
        {},
        [NodeSpec("f900003-n0", {"site": "paris"}, {})],
        [
            GroupSpec("a", "site=paris", 10, {"winner": "a"}),
            GroupSpec("zz", "", 5, {"winner": "zz", "low": "zz"}),
            GroupSpec("zzz", "", -1, {"low": "zzz"}),
        ],
        [AppSpec("web", "", {})],
    ),
    # null is a value: it replaces, it does not fall back; dicts are replaced whole.
    FleetSpec(
        900004,
        {"resources": {"cpu": 1, "memory": "1Gi"}},
        [NodeSpec("f900004-n0", {"site": "paris"}, {"replicas": None})],
        [GroupSpec("site-paris", "site=paris", 0, {"replicas": 3, "resources": {"cpu": 2}})],
        [AppSpec("web", "", {"replicas": 1, "features": {"a": True}})],
    ),
    # Documented difference: a value is data in shoal, a template in Ansible.
    FleetSpec(
        900006,
        {"site_label": "Paris", "proxy": "{{ site_label }} depot"},
        [NodeSpec("f900006-n0", {}, {})],
        [],
        [AppSpec("web", "", {})],
    ),
    # An app's defaults are seen by that app only.
    FleetSpec(
        900005,
        {},
        [NodeSpec("f900005-n0", {}, {})],
        [],
        [AppSpec("web", "", {"proxy": "web's"}), AppSpec("db", "", {})],
    ),
]
DIFFERENT = {900006: "values are data"}  # the docs' table of deliberate differences
EXPECTED = {  # (seed, node, app) -> variables both shoal and Ansible must give
    (900001, "f900001-n0", "web"): {"replicas": 1, "image_tag": "1.0"},
    (900002, "f900002-n0", "web"): {"winner": "site_paris"},
    (900003, "f900003-n0", "web"): {"winner": "a", "low": "zz"},
    (900004, "f900004-n0", "web"): {
        "replicas": None,
        "resources": {"cpu": 2},
        "features": {"a": True},
    },
    (900005, "f900005-n0", "web"): {"proxy": "web's"},
    (900005, "f900005-n0", "db"): {},
}


@dataclass
class Outcome:
    """One fleet: shoal's and Ansible's variables per (node, app)."""

    spec: FleetSpec
    shoal: dict[tuple[str, str], dict[str, Any]]
    explained: dict[tuple[str, str], MergedVars]
    ansible: dict[tuple[str, str], dict[str, Any]]
    literal: dict[tuple[str, str], dict[str, Any]] | None = None


def _shoal_side(spec: FleetSpec, root: Path) -> oracle.LoadedFleet:
    return oracle.LoadedFleet(spec, load_fleet(fleets.write(spec, root).root))


def _rendered(entry: oracle.LoadedFleet) -> dict[tuple[str, str], dict[str, Any]]:
    result = render_fleet(entry.fleet)
    assert not result.problems, f"seed {entry.spec.seed}: {result.problems[:3]}"
    return {
        (node, app): dict(json.loads(desired.resources[0]["data"]["vars"]))
        for node, apps in result.apps.items()
        for app, desired in apps.items()
    }


def _explained(entry: oracle.LoadedFleet) -> dict[tuple[str, str], MergedVars]:
    fleet = entry.fleet
    return {
        (node.name, app.name): node_vars(fleet, node, app)
        for node in fleet.nodes.values()
        for app in fleet.apps_for(node)
    }


def _by_app(
    seen: dict[tuple[str, str], dict[str, Any]], spec: FleetSpec, prefix: str
) -> dict[tuple[str, str], dict[str, Any]]:
    hosts = {n.name for n in spec.nodes}
    return {
        (host, role.removeprefix(prefix)): values
        for (host, role), values in seen.items()
        if host in hosts
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    base = tmp_path_factory.mktemp("conformance")
    specs = [*CASES, *(fleets.generate(s) for s in range(FIRST_SEED, FIRST_SEED + FLEETS))]
    entries = [_shoal_side(spec, base / "fleets" / spec.name) for spec in specs]
    batches = [entries[i : i + PER_RUN] for i in range(0, len(entries), PER_RUN)]
    alone = [[e] for e in entries[len(CASES) : len(CASES) + LITERAL]] if len(entries) > 1 else []

    def ansible(index_batch: tuple[int, list[oracle.LoadedFleet]]) -> Any:
        index, batch = index_batch
        root = base / f"ansible-{index}"
        root.mkdir()
        return oracle.run(root, oracle.project(root, batch))

    with ThreadPoolExecutor(max_workers=2) as pool:  # the oracle's runs, two at a time
        seen = list(pool.map(ansible, enumerate([*batches, *alone])))
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for run in seen[: len(batches)]:
        merged.update(run)
    result = []
    for entry in entries:
        prefix = f"{entry.spec.name}_"  # a fleet alone in a run has its roles unprefixed
        result.append(
            Outcome(
                entry.spec,
                _rendered(entry),
                _explained(entry),
                _by_app(merged, entry.spec, prefix),
            )
        )
    for entry_runs, run in zip(alone, seen[len(batches) :], strict=True):
        outcome = next(o for o in result if o.spec is entry_runs[0].spec)
        outcome.literal = _by_app(run, outcome.spec, "")
    return result


def _differences(outcome: Outcome) -> list[str]:
    seed = outcome.spec.seed
    problems = []
    if outcome.ansible.keys() != outcome.shoal.keys():
        problems.append(
            f"seed {seed}: (node, app) pairs differ: only shoal "
            f"{sorted(outcome.shoal.keys() - outcome.ansible.keys())}, only Ansible "
            f"{sorted(outcome.ansible.keys() - outcome.shoal.keys())}"
        )
    for key, theirs in sorted(outcome.ansible.items()):
        for side, ours in (
            ("render", outcome.shoal.get(key)),
            ("explain", outcome.explained[key].values),
        ):
            if ours != theirs:
                problems.append(
                    f"seed {seed}, node {key[0]}, app {key[1]}: shoal's {side} gives {ours}, "
                    f"Ansible {theirs}"
                )
    return problems


def test_every_fleet_gets_ansibles_variables(outcomes: list[Outcome]) -> None:
    problems = [
        p
        for outcome in outcomes
        if outcome.spec.seed not in DIFFERENT
        for p in _differences(outcome)
    ]
    assert not problems, (
        f"{len(problems)} differences from Ansible (rerun one with "
        "SHOAL_CONFORMANCE_SEED=<seed> SHOAL_CONFORMANCE_FLEETS=1):\n" + "\n".join(problems[:20])
    )


def test_the_documented_rules_hold_in_both(outcomes: list[Outcome]) -> None:
    by_key = {
        (o.spec.seed, node, app): (o.shoal[node, app], o.ansible[node, app])
        for o in outcomes
        for node, app in o.ansible
    }
    for key, expected in EXPECTED.items():
        assert by_key[key] == (expected, expected), key


def test_values_are_data_in_shoal_and_templates_in_ansible(outcomes: list[Outcome]) -> None:
    """The one difference the docs' table lists that a fleet file can show."""
    outcome = next(o for o in outcomes if o.spec.seed == 900006)
    key = ("f900006-n0", "web")
    assert outcome.shoal[key]["proxy"] == "{{ site_label }} depot"
    assert outcome.ansible[key]["proxy"] == "Paris depot"


def test_alone_with_group_vars_all_ansible_gives_the_same(outcomes: list[Outcome]) -> None:
    """A fleet alone is translated literally (group_vars/all, the groups' own names):
    the per-fleet parent group used in shared runs stands exactly where `all` does."""
    literal = [o for o in outcomes if o.literal is not None]
    assert len(literal) == min(LITERAL, FLEETS) or len(outcomes) == 1
    for outcome in literal:
        assert outcome.literal == outcome.ansible, outcome.spec.seed


def test_the_fleets_exercise_every_rule(outcomes: list[Outcome]) -> None:
    """Every rule in the precedence table decides many of the variables compared."""
    counts = rule_counts(outcomes)
    print("compared with Ansible:", ", ".join(f"{n} {k}" for k, n in counts.items()))  # -s shows it
    for rule in (
        "fleet over app default",
        "group over fleet",
        "group over app default",
        "node over group",
        "priority tie by name",
        "dict replaced whole",
        "null wins",
    ):
        assert counts[rule] >= (1 if FLEETS < 50 else 10), (rule, dict(counts))


def rule_counts(outcomes: list[Outcome]) -> Counter[str]:
    """How often each rule decided a variable compared (and how much was compared)."""
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        counts["hand-written fleets" if outcome.spec in CASES else "random fleets"] += 1
        counts["nodes"] += len(outcome.spec.nodes)
        counts["node-app pairs"] += len(outcome.ansible)
        for merged in outcome.explained.values():
            counts["variables"] += len(merged.values)
            for name, origin in merged.origins.items():
                value, below = merged.values[name], merged.overridden.get(name, ())
                kinds = {layer.kind for layer in below}
                if origin.kind == "fleet" and "app" in kinds:
                    counts["fleet over app default"] += 1
                if origin.kind == "group" and "fleet" in kinds:
                    counts["group over fleet"] += 1
                if origin.kind == "group" and "app" in kinds:
                    counts["group over app default"] += 1
                if origin.kind == "node" and "group" in kinds:
                    counts["node over group"] += 1
                if any(x.kind == "group" and x.priority == origin.priority for x in below):
                    counts["priority tie by name"] += origin.kind == "group"
                if isinstance(value, dict) and any(
                    isinstance(x.vars[name], dict) and x.vars[name].keys() - value.keys()
                    for x in below
                ):
                    counts["dict replaced whole"] += 1
                if value is None and below:
                    counts["null wins"] += 1
    return counts


@pytest.mark.parametrize("name", fleets.VAR_NAMES)
def test_generated_names_are_ones_ansible_leaves_alone(name: str) -> None:
    assert name.isidentifier()
    assert not is_reserved_name(name)
    assert name not in MAGIC and not name.startswith("ansible_")
