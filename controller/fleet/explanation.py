"""Why a node gets what it gets, as plain data: matching groups and apps (with the
selector term that fails) and the origin of every variable.

`shoal explain` (controller/commands/explain.py) prints it as text or JSON; the
dashboard's node page (controller/dashboard) shows the same facts.
"""

from __future__ import annotations

from typing import Any

from controller.fleet.model import Fleet, Node
from controller.fleet.selectors import Selector
from controller.fleet.variables import Layer, MergedVars, node_vars


def _selection(selector: Selector, node: Node) -> dict[str, Any]:
    failing = selector.failing(node.tags)
    if failing is None:
        return {"selector": selector.text, "matches": True}
    actual = node.tags.get(failing.key)
    return {
        "selector": selector.text,
        "matches": False,
        "failed": str(failing),
        "tag": f"{failing.key}={actual}" if actual is not None else f"no {failing.key} tag",
    }


def _origin(layer: Layer) -> dict[str, Any]:
    return {
        "layer": layer.kind,
        "name": layer.name,
        "file": layer.file,
        "describe": layer.describe(),
    }


def _variables(merged: MergedVars, keys: Any = None) -> dict[str, Any]:
    out = {}
    for key in sorted(merged.values if keys is None else keys):
        out[key] = {
            "value": merged.values[key],
            "from": _origin(merged.origins[key]),
            "overrides": [_origin(layer) for layer in merged.overridden.get(key, ())],
        }
    return out


def explain_node(fleet: Fleet, node: Node) -> dict[str, Any]:
    """Everything `shoal explain` shows, as plain data (the JSON output)."""
    groups = [
        {"name": g.name, "file": g.file, "priority": g.priority, **_selection(g.selector, node)}
        for g in sorted(fleet.groups.values(), key=lambda g: (g.priority, g.name))
    ]
    apps = []
    for app in sorted(fleet.apps.values(), key=lambda a: a.name):
        entry: dict[str, Any] = {
            "name": app.name,
            "file": app.file,
            **_selection(app.selector, node),
        }
        if entry["matches"]:
            # The app's own defaults, as they end up for this node.
            entry["variables"] = _variables(node_vars(fleet, node, app), app.vars.keys())
        apps.append(entry)
    return {
        "node": node.name,
        "file": node.file,
        "tags": dict(sorted(node.tags.items())),
        "groups": groups,
        "apps": apps,
        "variables": _variables(node_vars(fleet, node)),
    }
