"""Nodes that differ only in their printed name get one stamped app render
(controller.render.stamps): every node must still get the bytes, and the problems
(file, node), that a render of its own text gives, also after a group changes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from controller.fleet.loading import load_fleet
from controller.render import stamps
from controller.render.incremental import Baseline, render_changes
from controller.render.kubeschema import KubernetesSchemas
from controller.render.rendercache import RenderCache
from controller.render.rendering import render_fleet
from tests.rendering.test_memo_equivalence import NAME_LINES, TRICKY_NAMES, assert_same
from tests.support.render import FleetRepo

IDENTITY = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: identity}
data:
  node: "{{ node.name }}"
  plain: {{ node.name }}
  url: https://{{ node.name }}.{{ domain }}/
  site: "{{ node.tags.site }}"
"""

AGENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent}
spec:
  template:
    spec:
      containers:
        - name: agent
          image: "registry.example.com/agent:{{ tag }}"
          env:
            - {name: NODE_NAME, value: "{{ node.name }}"}
"""

# The name where a check reads it: each node must render (and fail) on its own.
NAMED = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 'cm-{{ node.name }}'}\n"
SEALED = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: motd}\ndata: {m: "shoal-{{ node.name }}:v1:x"}\n'


def build(root: Path, names: list[str], policy: bool = False) -> FleetRepo:
    repo = FleetRepo(root)
    # A policy of its own is part of each app's entry and digest.
    repo.fleet(
        "test",
        vars={"domain": "example.com", "tag": "1.0"},
        policy={"clusterKinds": ["Namespace"]} if policy else None,
    )
    for i, name in enumerate(names):
        repo.node(name, site=["paris", "lyon"][i % 2], **({"model": "x"} if i % 3 else {}))
    repo.group("paris", "site=paris", domain="paris.example.com", tag="2.0")
    repo.app("identity", {"cm.yaml.j2": IDENTITY, "agent.yaml.j2": AGENT})
    repo.app("named", {"cm.yaml.j2": NAMED}, selector="model=x")
    repo.app("motd", {"cm.yaml.j2": SEALED})
    return repo


def count_stamped(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many entries stamps gave, through a wrapper around `Stamp.entry`."""
    given = [0]
    entry = stamps.Stamp.entry

    def counted(self: stamps.Stamp, name: str) -> object:
        found = entry(self, name)
        given[0] += found is not None
        return found

    monkeypatch.setattr(stamps.Stamp, "entry", counted)
    return given


NAMES = [f"edge-{i:03d}" for i in range(24)] + TRICKY_NAMES + ["sealed", "qzzzzz", "a-b-c"]


def test_stamped_entries_equal_a_naive_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamped = count_stamped(monkeypatch)
    repo = build(tmp_path / "fleet", NAMES)
    fleet = load_fleet(repo.root)
    memo, naive = render_fleet(fleet), render_fleet(fleet, memoize=False)
    assert_same(memo, naive)
    assert stamped[0] > len(NAMES)  # most nodes' identity app came from a stamp
    agent = memo.apps["edge-007"]["identity"].resources  # agent.yaml.j2, then cm.yaml.j2
    assert agent[1]["data"]["node"] == agent[1]["data"]["plain"] == "edge-007"
    assert agent[0]["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "edge-007"
    # YAML reads these plain names as a number or a boolean, which ConfigMap data
    # refuses: those nodes alone fail, each rendered from its own text.
    refused = {p.node for p in memo.problems if p.app == "identity"}
    assert {"123", "true", "0x1f", "1.5"} <= refused
    assert not refused & {"edge-007", "gw-01", "qzz", "a.b", "1-2"}
    assert all(p.file.endswith("cm.yaml.j2") for p in memo.problems if p.app == "identity")
    # `shoal-sealed:v1:x` is a sealed value outside a Secret: that node alone fails.
    failed = [p for p in memo.problems if p.app == "motd"]
    assert [p.node for p in failed] == ["sealed"] and failed[0].file.endswith("cm.yaml.j2")


@pytest.mark.parametrize("seed", range(4))
def test_a_group_change_on_a_node_specific_fleet_re_renders_like_naive(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the controller: a baseline rendered with a kept cache, a group's variables
    change, `render_changes` re-renders the nodes it reaches. Every node equals a
    naive render of the new revision, so exactly the changed documents differ."""
    stamped = count_stamped(monkeypatch)
    rng = random.Random(seed)
    repo = build(tmp_path / "fleet", NAMES, policy=seed % 2 == 1)
    extra = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata:\n"
        + "".join(rng.sample(NAME_LINES, 3))
        + '  d: "{{ domain }}"\n'
    )
    repo.app("extra", {"cm.yaml.j2": extra}, selector=rng.choice(["", "site=paris"]))
    cache = RenderCache()
    fleet = load_fleet(repo.root)
    before = render_fleet(fleet, cache=cache)
    assert_same(before, render_fleet(fleet, memoize=False))
    baseline = Baseline("old", fleet, before.apps)

    changed = repo.group("paris", "site=paris", domain=f"new-{seed}.example.com", tag="2.0")
    rendered = render_changes(baseline, repo.root, [changed], cache=cache)

    assert rendered is not None and rendered.rendered is not None
    naive = render_fleet(load_fleet(repo.root), memoize=False)
    for node in naive.apps:
        assert {a: d.digest for a, d in rendered.apps[node].items()} == {
            a: d.digest for a, d in naive.apps[node].items()
        }, node
    assert sorted(map(str, rendered.problems)) == sorted(
        str(p) for p in naive.problems if p.node in rendered.rendered
    )
    assert stamped[0] > 0
    digests = {n: {a: d.digest for a, d in apps.items()} for n, apps in before.apps.items()}
    moved = {
        n for n, apps in naive.apps.items() if {a: d.digest for a, d in apps.items()} != digests[n]
    }
    assert moved and moved <= rendered.rendered  # only nodes the change reaches differ


def test_the_schema_walk_allows_only_strings_judged_by_type_and_length() -> None:
    schemas = KubernetesSchemas("1.30")
    configmap = {"apiVersion": "v1", "kind": "ConfigMap"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment"}
    env = ("spec", "template", "spec", "containers", 0, "env", 0, "value")
    assert schemas.free_strings(configmap, [("data", "node")])
    assert schemas.free_strings(deployment, [env])
    assert not schemas.free_strings(configmap, [("binaryData", "x")])  # format: byte
    assert not schemas.free_strings(configmap, [("kind",)])  # enum
    assert schemas.free_strings({"apiVersion": "example.com/v1", "kind": "Widget"}, [("x",)])
