"""The memo never changes a byte: random fleets render the same memoized and naive."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from controller.fleet.loading import load_fleet
from controller.render.rendercache import RenderCache
from controller.render.rendering import FleetRender, render_fleet
from tests.support.render import FleetRepo

HEADER = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata:\n"

# Each reads the context differently; together they exercise every memo key path.
LINES = [
    '  a: "{{ a }}"\n',
    "  b: \"{{ b | default('none') }}\"\n",
    '  site: "{{ node.tags.site }}"\n',
    "  tags: {{ node.tags | dictsort | to_json }}\n",
    "  items: {{ node.tags.items() | list | length }}\n",
    '  name: "{{ node.name }}"\n',
    "  d: {{ d | to_json }}\n",
    '  fleet_a: "{{ fleet.vars.a }}"\n',
    "  merged: {{ d | combine({'x': a}) | to_json }}\n",
    '{% if c is defined %}  c: "{{ c }}"\n{% endif %}',
    '  model: "{{ node.tags["model"] | default("?") }}"\n',
]


def build(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    repo = FleetRepo(root, vars={"a": "fleet", "d": {"k": 1}})
    sites, models = ["paris", "lyon", "nice"], ["rpi4", "rpi5"]
    for i in range(30):
        tags = {"site": rng.choice(sites)}
        if rng.random() < 0.7:
            tags["model"] = rng.choice(models)
        own = {"b": f"node-{i}"} if rng.random() < 0.2 else None
        repo.node(f"n{i:02d}", vars=own, **tags)
    for site in sites:
        repo.group(
            site,
            f"site={site}",
            priority=rng.choice([0, 5]),
            a=f"{site}-a",
            **({"c": site} if rng.random() < 0.5 else {}),
        )
    for model in models:
        repo.group(
            model,
            f"model={model}",
            priority=rng.choice([0, 5]),
            **{rng.choice(["a", "b", "d"]): {"k": model}},
        )
    for a in range(4):
        templates = {}
        for t in range(2):
            lines = rng.sample(LINES, 3)
            templates[f"t{t}.yaml.j2"] = HEADER % f"cm{t}" + "".join(lines)
        if rng.random() < 0.5:
            templates["t2.yaml.j2"] = "{% include 'parts/p.j2' %}"
            templates["parts/p.j2"] = HEADER % "p" + rng.choice(LINES)
        selector = rng.choice(["", "site!=nice", "model in (rpi4)", "!model"])
        repo.app(f"app{a}", templates, selector=selector, **({"a": "app"} if a % 2 else {}))


def assert_same(memo: FleetRender, naive: FleetRender) -> None:
    assert sorted(map(str, memo.problems)) == sorted(map(str, naive.problems))
    for node in memo.fleet.nodes:
        assert {a: d.digest for a, d in memo.apps[node].items()} == {
            a: d.digest for a, d in naive.apps[node].items()
        }, node
    for apps in memo.apps.values():  # the memo's shortcut to digests agrees with shadow's
        assert all(app.digest == app.content_digest() for app in apps.values())


@pytest.mark.parametrize("seed", range(10))
def test_memoized_render_equals_naive(tmp_path: Path, seed: int) -> None:
    build(tmp_path / "fleet", seed)
    fleet = load_fleet(tmp_path / "fleet")
    memo, naive = render_fleet(fleet), render_fleet(fleet, memoize=False)
    assert_same(memo, naive)
    assert memo.renders <= naive.renders


@pytest.mark.parametrize("seed", range(6))
def test_a_cache_kept_across_commits_renders_like_naive(tmp_path: Path, seed: int) -> None:
    """Like the controller: one folder changes from commit to commit, one cache stays.
    Commits swap in other random nodes and groups (the apps' memos are reused), edit
    a template's text without changing what it reads, and replace an app folder."""
    root = tmp_path / "fleet"
    build(root, seed)
    cache = RenderCache()
    for step in range(5):
        fleet = load_fleet(root)
        assert_same(render_fleet(fleet, cache=cache), render_fleet(fleet, memoize=False))
        other = tmp_path / f"commit-{step}"
        build(other, seed * 100 + step)
        if step == 1:
            template = root / "apps/app0/templates/t0.yaml.j2"
            template.write_text(template.read_text() + '  edited: "yes"\n')
            continue
        for folder in ("nodes", "groups") if step != 3 else ("apps/app1",):
            shutil.rmtree(root / folder)
            shutil.copytree(other / folder, root / folder)
    assert cache.hits > 0


# Node names YAML would read as something else, or that look like the placeholder.
TRICKY_NAMES = [
    "gw-01",
    "123",
    "1e3",
    "0x1f",
    "1.5",
    "true",
    "null",
    "off",
    "1_000",
    "0o17",
    "a",
    "q",
    "qz",
    "qzz",
    "n1",
    "x",
    "a.b",
    "edge-001.paris",
    "z",
    "inf",
    "nan",
    "1-2",
]

# Each prints the name somewhere YAML treats differently; a few read it otherwise.
NAME_LINES = [
    '  quoted: "{{ node.name }}"\n',
    "  plain: {{ node.name }}\n",
    "  single: '{{ node.name }}'\n",
    "  joined: {{ app.name }}-{{ node.name }}.example.com\n",
    "  {{ node.name }}: key\n",
    "  a: first\n  {{ node.name }}: second\n",
    '  escaped: "\\{{ node.name }}"\n',
    '  hex: "\\x4{{ node.name }}"\n',
    "  flow: {name: {{ node.name }}, site: {{ node.tags.site }}}\n",
    "  list: [{{ node.name }}, {{ node.name }}]\n",
    "  block: |\n    host {{ node.name }}\n    again {{ node.name }}\n",
    "  # a comment naming {{ node.name }}\n",
    "  upper: {{ node.name | upper }}\n",
    "{% if node.name == 'a' %}  only-a: yes\n{% endif %}",
    "{% for i in range(2) %}  n{{ i }}: {{ node.name }}{{ i }}\n{% endfor %}",
    "  qzz: {{ node.name }}\n",
    "  own: \"{{ b | default('-') }}\"\n",
    "  size: {{ node.name | length }}\n",
]


def build_named(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    repo = FleetRepo(root, vars={"a": "fleet"})
    for i, name in enumerate(TRICKY_NAMES):
        own = {"b": f"own-{i}"} if rng.random() < 0.3 else None
        repo.node(name, vars=own, site=rng.choice(["paris", "lyon"]))
    repo.group("paris", "site=paris", a="paris-a")
    for a in range(4):
        templates = {
            f"t{t}.yaml.j2": HEADER % f"cm{t}" + "".join(rng.sample(NAME_LINES, 3))
            for t in range(2)
        }
        templates["t2.yaml.j2"] = HEADER % "plain" + rng.choice(LINES)
        repo.app(f"app{a}", templates, selector=rng.choice(["", "site=paris"]))


@pytest.mark.parametrize("seed", range(12))
def test_node_specific_templates_render_like_naive(tmp_path: Path, seed: int) -> None:
    """Templates printing `node.name` are rendered once per name length with a
    placeholder (controller.render.placeholders); every node must still get the
    bytes, and the problems, a render of its own text gives."""
    build_named(tmp_path / "fleet", seed)
    fleet = load_fleet(tmp_path / "fleet")
    memo, naive = render_fleet(fleet), render_fleet(fleet, memoize=False)
    assert_same(memo, naive)


def test_a_node_specific_fleet_renders_each_template_once_per_name_length(tmp_path: Path) -> None:
    repo = FleetRepo(tmp_path / "fleet")
    for i in range(40):
        repo.node(f"edge-{i:03d}", site="paris")
    repo.app("web", {"cm.yaml.j2": HEADER % "web" + '  node: "{{ node.name }}"\n'})
    fleet = load_fleet(repo.root)
    memo, naive = render_fleet(fleet), render_fleet(fleet, memoize=False)
    assert_same(memo, naive)
    assert memo.template_renders == 2  # the placeholder, and one a character longer
    assert memo.apps["edge-007"]["web"].resources[0]["data"] == {"node": "edge-007"}
