"""Variable precedence: which value each template variable has for one node and app.

Layers, lowest to highest, exactly as Ansible's (documented once, with the Ansible
name of each layer, in docs/fleet-repository.md; tests/conformance checks it against
ansible-playbook itself):

1. app defaults (`apps/<app>/app.yaml`) — a role's `defaults/main.yml`
2. fleet vars (`fleet.yaml`) — `group_vars/all`
3. groups whose selector matches the node, by ascending `priority`, then name —
   `group_vars/<group>` with `ansible_group_priority`
4. node vars (`nodes/<file>.yaml`) — `host_vars/<node>`

A higher layer replaces a value whole (Ansible's default `hash_behaviour = replace`;
the `combine` filter merges dicts for templates that want it). `merge_layers` also
keeps, for each variable, the layer that won and the layers it overrode — `shoal
explain` shows them. Called by rendering (`context_values`, values only) and the
explain command (`node_vars`, with provenance); both take the order from `layers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.fleet.model import App, Fleet, Group, Node


@dataclass(frozen=True)
class Layer:
    """One source of variables: `kind` is fleet, app, group or node."""

    kind: str
    name: str
    file: str
    vars: Mapping[str, Any]
    priority: int = 0

    def describe(self) -> str:
        """`group paris (priority 10)`, `node paris-gw-01`, `fleet acme`, `app web`."""
        text = f"{self.kind} {self.name}"
        return f"{text} (priority {self.priority})" if self.kind == "group" else text

    def ansible(self) -> str:
        """The same layer in an Ansible project: `roles/web/defaults/main.yml`,
        `group_vars/all`, `group_vars/paris (priority 10)`, `host_vars/paris-gw-01`."""
        if self.kind == "app":
            return f"roles/{self.name}/defaults/main.yml"
        if self.kind == "fleet":
            return "group_vars/all"
        if self.kind == "group":
            return f"group_vars/{self.name} (priority {self.priority})"
        return f"host_vars/{self.name}"


@dataclass(frozen=True)
class MergedVars:
    """The merged variables and, per variable, where the winning value came from."""

    values: dict[str, Any]
    origins: dict[str, Layer]
    overridden: dict[str, tuple[Layer, ...]] = field(default_factory=dict)


def layers(fleet: Fleet, node: Node, app: App | None, groups: Sequence[Group]) -> list[Layer]:
    """The layers for `node` (and `app` when given), lowest precedence first.

    `groups` are the groups matching the node, already in precedence order
    (`Fleet.groups_for`).
    """
    result = [] if app is None else [Layer("app", app.name, app.file, app.vars)]
    result.append(Layer("fleet", fleet.name, fleet.file, fleet.vars))
    result.extend(Layer("group", g.name, g.file, g.vars, g.priority) for g in groups)
    result.append(Layer("node", node.name, node.file, node.vars))
    return result


def merge_layers(ordered: Sequence[Layer]) -> MergedVars:
    """Apply layers lowest first; each value replaces any earlier one whole."""
    values: dict[str, Any] = {}
    origins: dict[str, Layer] = {}
    overridden: dict[str, list[Layer]] = {}
    for layer in ordered:
        for key, value in layer.vars.items():
            if key in origins:
                overridden.setdefault(key, []).append(origins[key])
            values[key] = value
            origins[key] = layer
    return MergedVars(values, origins, {k: tuple(v) for k, v in overridden.items()})


def merge_values(ordered: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The values only (rendering's hot path): later mappings replace earlier keys."""
    values: dict[str, Any] = {}
    for layer in ordered:
        values.update(layer)
    return values


def context_values(fleet: Fleet, node: Node, app: App, groups: Sequence[Group]) -> dict[str, Any]:
    """What `merge_layers(layers(...)).values` gives, without the provenance (the
    render's hot path): app defaults < fleet vars < `groups` (in order) < node vars."""
    return merge_values([app.vars, fleet.vars, *(g.vars for g in groups), node.vars])


def node_vars(fleet: Fleet, node: Node, app: App | None = None) -> MergedVars:
    """The merged variables of `node` (for `app` when given), with provenance."""
    return merge_layers(layers(fleet, node, app, fleet.groups_for(node)))
