"""Random fleets for the Ansible conformance suite, reproducible from a seed.

`generate(seed)` draws a small fleet: nodes with tags and vars, groups with selectors,
priorities (many equal, so ties are ordered by name) and vars, apps with defaults and
selectors. Values are scalars of every YAML type, `null`, and nested dicts and lists;
a few variable names recur in most layers, so every layer overrides every other.
Names stay in the space a fleet author would use: none is a name Ansible treats as
magic or reserved (tests/conformance/test_ansible_precedence.py checks that against
ansible-core's own list). `write(spec, root)` writes it as a shoal fleet repository
whose apps each render one ConfigMap holding every variable they see.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.render import FleetRepo

# Variable names: most fleets draw a handful, so layers collide on them.
VAR_NAMES = (
    "replicas",
    "image_tag",
    "log_level",
    "timezone",
    "resources",
    "features",
    "ntp_servers",
    "retention_days",
    "proxy",
    "env_vars",
    "site_label",
    "Replicas",  # names are case-sensitive on both sides
    "_internal",
    "tls2",
)
KEYS = ("cpu", "memory", "enabled", "hosts", "limits", "a", "B", "x_1", "nvidia.com/gpu", "a key")
STRINGS = ("paris", "1.4.2", "007", "yes", "no", "null", "~", "", "with space", "é-utf8", "0x1F")
TAGS = {
    "site": ("paris", "lyon", "nice"),
    "model": ("rpi4", "rpi5", "orin"),
    "canary": ("true",),
    "role": ("gateway", "ai"),
}
# Group names chosen so that sorting by name is sharp: case, '-', '.', '_', digits.
GROUP_NAMES = (
    "site-paris",
    "site_paris",
    "site.paris",
    "Site-Lyon",
    "a-model",
    "a",
    "b",
    "canary",
    "zz",
    "A1",
    "rpi4",
    "model-orin",
)
APP_NAMES = ("web", "inference", "sensors", "db")
PRIORITIES = (0, 0, 0, 5, 5, 10, -1)

DUMP_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: dump}
data:
  vars: {{ %s | to_json | to_json }}
"""


@dataclass
class NodeSpec:
    name: str
    tags: dict[str, str]
    vars: dict[str, Any]


@dataclass
class GroupSpec:
    name: str
    selector: str
    priority: int
    vars: dict[str, Any]


@dataclass
class AppSpec:
    name: str
    selector: str
    vars: dict[str, Any]


@dataclass
class FleetSpec:
    seed: int
    vars: dict[str, Any]
    nodes: list[NodeSpec] = field(default_factory=list)
    groups: list[GroupSpec] = field(default_factory=list)
    apps: list[AppSpec] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"f{self.seed}"

    def variable_names(self) -> list[str]:
        """Every variable name any layer defines: what each app's dump looks for."""
        names: set[str] = set(self.vars)
        for layer in (*self.nodes, *self.groups, *self.apps):
            names.update(layer.vars)
        return sorted(names)


def dump_expression(names: list[str]) -> str:
    """One Jinja expression, the same for shoal and Ansible: `[[name, value], ...]` of
    the variables among `names` that are defined where the template runs."""
    parts = [f'([["{n}", {n}]] if {n} is defined else [])' for n in names]
    return "(" + " + ".join(parts or ["[]"]) + ")"


def _scalar(rng: random.Random) -> Any:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randint(-3, 1000)
    if kind == 1:
        return rng.choice((True, False))
    if kind == 2:
        return rng.choice((0.5, -2.25, 1e3))
    if kind == 3:
        return None
    return rng.choice(STRINGS)


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth < 2 and kind < 0.25:
        return {k: _value(rng, depth + 1) for k in rng.sample(KEYS, rng.randint(0, 3))}
    if depth < 2 and kind < 0.4:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return _scalar(rng)


def _vars(rng: random.Random, names: list[str], most: int) -> dict[str, Any]:
    count = rng.randint(0, min(most, len(names)))
    return {n: _value(rng) for n in rng.sample(names, count)}


def _selector(rng: random.Random) -> str:
    terms = []
    for _ in range(rng.choice((0, 1, 1, 1, 2))):
        key = rng.choice(sorted(TAGS))
        values = TAGS[key]
        form = rng.randrange(6)
        if form == 0:
            terms.append(f"{key}={rng.choice(values)}")
        elif form == 1:
            terms.append(f"{key}!={rng.choice(values)}")
        elif form == 2:
            terms.append(f"{key} in ({','.join(rng.sample(values, min(2, len(values))))})")
        elif form == 3:
            terms.append(f"{key} notin ({rng.choice(values)})")
        elif form == 4:
            terms.append(key)
        else:
            terms.append(f"!{key}")
    return ",".join(terms)


def generate(seed: int) -> FleetSpec:
    """A fleet drawn from `seed`: 2-8 nodes, 1-6 groups, 1-3 apps."""
    rng = random.Random(seed)
    names = rng.sample(VAR_NAMES, rng.randint(2, 9))
    spec = FleetSpec(seed, _vars(rng, names, 5))
    for i in range(rng.randint(2, 8)):
        tags = {k: rng.choice(v) for k, v in TAGS.items() if rng.random() < 0.6}
        spec.nodes.append(NodeSpec(f"{spec.name}-n{i}", tags, _vars(rng, names, 2)))
    for name in rng.sample(GROUP_NAMES, rng.randint(1, 6)):
        spec.groups.append(
            GroupSpec(name, _selector(rng), rng.choice(PRIORITIES), _vars(rng, names, 5))
        )
    for name in rng.sample(APP_NAMES, rng.randint(1, 3)):
        spec.apps.append(AppSpec(name, _selector(rng), _vars(rng, names, 5)))
    return spec


def write(spec: FleetSpec, root: Path) -> FleetRepo:
    """The fleet as a shoal repository; each app renders its dump ConfigMap."""
    repo = FleetRepo(root, name=spec.name, vars=spec.vars or None)
    for node in spec.nodes:
        repo.node(node.name, vars=node.vars or None, **node.tags)
    for group in spec.groups:
        repo.write_yaml(
            f"groups/{group.name}.yaml",
            {"selector": group.selector, "priority": group.priority, "vars": group.vars},
        )
    dump = DUMP_TEMPLATE % dump_expression(spec.variable_names())
    for app in spec.apps:
        repo.app(app.name, {"dump.yaml.j2": dump}, selector=app.selector, **app.vars)
    return repo
