"""`shoal explain [REPO] --node NAME`: why a node gets what it gets.

Lists every group and app with whether its selector matches the node, and for
those that do not, the first selector term that fails and the node's actual tag.
Then every variable with the layer and file its value came from (and the layers it
overrode), following the precedence in docs/fleet-repository.md.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from controller.commands.reporting import add_repo_argument, load_node
from controller.fleet.explanation import explain_node


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "explain",
        help="show which groups and apps match a node, and where each variable comes from",
        description="Explain one node: matching and non-matching groups and apps (with the "
        "selector term that fails) and the origin of every variable.",
    )
    add_repo_argument(parser)
    parser.add_argument("--node", required=True, metavar="NAME", help="the node to explain")
    parser.add_argument(
        "--format", choices=["text", "json"], default="text", help="output format (default: text)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    loaded = load_node(args.repo, args.node)
    if loaded is None:
        return 1
    explanation = explain_node(*loaded)
    if args.format == "json":
        print(json.dumps(explanation, indent=2, ensure_ascii=False, default=str))
    else:
        print(as_text(explanation))
    return 0


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _variable_lines(variables: dict[str, Any], indent: str) -> list[str]:
    lines = []
    width = max((len(k) for k in variables), default=0)
    for key, info in variables.items():
        origin = info["from"]
        line = f"{indent}{key.ljust(width)} = {_value(info['value'])}   <- {origin['describe']} ({origin['file']})"
        if info["overrides"]:
            line += "; overrides " + ", ".join(o["describe"] for o in info["overrides"])
        lines.append(line)
    return lines


def _selection_line(entry: dict[str, Any], label: str) -> str:
    if entry["matches"]:
        return f"  + {label}  ({entry['file']}, selector {entry['selector']!r})"
    return (
        f"  - {label}  ({entry['file']}): selector {entry['selector']!r} fails at "
        f"{entry['failed']!r} ({entry['tag']})"
    )


def as_text(explanation: dict[str, Any]) -> str:
    tags = ", ".join(f"{k}={v}" for k, v in explanation["tags"].items()) or "(no tags)"
    lines = [f"node {explanation['node']} ({explanation['file']})", f"tags: {tags}", ""]
    lines.append("groups (+ matches, - does not; lowest precedence first):")
    for g in explanation["groups"]:
        lines.append(_selection_line(g, f"{g['name']} (priority {g['priority']})"))
    if not explanation["groups"]:
        lines.append("  (no groups)")
    lines += ["", "apps:"]
    for a in explanation["apps"]:
        lines.append(_selection_line(a, a["name"]))
    if not explanation["apps"]:
        lines.append("  (no apps)")
    lines += ["", "variables (precedence: fleet < app defaults < groups < node):"]
    lines += _variable_lines(explanation["variables"], "  ") or ["  (none)"]
    for a in explanation["apps"]:
        if a["matches"] and a["variables"]:
            lines += ["", f"app {a['name']} defaults, as they end up on this node:"]
            lines += _variable_lines(a["variables"], "  ")
    return "\n".join(lines)
