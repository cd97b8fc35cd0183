"""The fleet repository as a model: read, validated and merged, nothing rendered yet.

`loading.load_fleet(root)` reads every YAML file (`yamlreader` keeps each value's line),
validates it against `schemas/`, parses selectors (`selectors`) and returns the frozen
`Fleet` of `model`, or raises one `FleetError` carrying every `Problem` (`problems`).
`variables` merges a node's and an app's variables by precedence. Called by `render/`,
`review/`, the commands and the controller's reconciler; imports no other room.
"""

from controller.fleet.agent import agent_release
from controller.fleet.loading import YAML_SUFFIXES, UsableFleet, load_fleet, load_usable
from controller.fleet.model import TEMPLATE_SUFFIX, App, Fleet, Group, Node
from controller.fleet.problems import FleetError, Problem, sort_key
from controller.fleet.selectors import Selector, SelectorIndex, parse_selector
from controller.fleet.variables import Layer, MergedVars, merge_values, node_vars
from controller.fleet.yamlreader import YamlSyntaxError, load_all

__all__ = [
    "TEMPLATE_SUFFIX",
    "YAML_SUFFIXES",
    "App",
    "Fleet",
    "FleetError",
    "Group",
    "Layer",
    "MergedVars",
    "Node",
    "Problem",
    "Selector",
    "SelectorIndex",
    "UsableFleet",
    "YamlSyntaxError",
    "agent_release",
    "load_all",
    "load_fleet",
    "load_usable",
    "merge_values",
    "node_vars",
    "parse_selector",
    "sort_key",
]
