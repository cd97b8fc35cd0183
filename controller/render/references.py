"""Which context paths a template reads: what its output can depend on.

`templating.compile_app` records, for each template, the paths it reads
(`node.tags.site`, `replicas`); `rendering` keys its memo on the values at those paths
only, so nodes that differ in anything else share one render. The set always covers
everything the output can depend on: a name read in any other way than a chain of
constant attributes or subscripts is recorded whole. `context_key` turns the values
at those paths into the memo's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import meta, nodes

Reference = tuple[str, ...]

_MISSING = "\x00missing"


def simplify(found: set[Reference]) -> tuple[Reference, ...]:
    """Sorted, without paths under a name that is read whole."""
    whole = {ref[0] for ref in found if len(ref) == 1}
    return tuple(sorted(ref for ref in found if len(ref) == 1 or ref[0] not in whole))


def references(tree: nodes.Template) -> set[Reference]:
    """Context paths read by a template: `("node", "tags", "site")`, `("replicas",)`.

    A name read in any other way than a chain of constant attributes or subscripts is
    recorded whole, so the set always covers everything the output can depend on.
    """
    names = meta.find_undeclared_variables(tree) - {"secret"}  # a global: see below
    found: set[Reference] = set()

    def visit(node: nodes.Node) -> None:
        if _calls_secret(node):
            # secret("db") reads node.secrets.db (controller.render.secrets).
            assert isinstance(node, nodes.Call)
            first = node.args[0] if node.args else None
            if isinstance(first, nodes.Const) and isinstance(first.value, str):
                found.add(("node", "secrets", first.value))
            else:
                found.add(("node", "secrets"))
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            chain: list[str] = []
            current: nodes.Node = node
            while True:
                if isinstance(current, nodes.Getattr):
                    chain.append(current.attr)
                    current = current.node
                elif (
                    isinstance(current, nodes.Getitem)
                    and isinstance(current.arg, nodes.Const)
                    and isinstance(current.arg.value, str)
                ):
                    chain.append(current.arg.value)
                    current = current.node
                else:
                    break
            if isinstance(current, nodes.Name) and current.ctx == "load" and current.name in names:
                found.add((current.name, *reversed(chain)))
                return
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in names:
            found.add((node.name,))
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return found


def _calls_secret(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "secret"
        and node.node.ctx == "load"
    )


def context_key(context: Mapping[str, Any], references: tuple[Reference, ...]) -> str:
    """A memo key for the values at `references`.

    `repr` of plain data is injective (equal keys mean equal values) and far cheaper
    than canonical JSON; dicts equal but ordered differently just miss the memo.
    """
    return repr([pick(context, ref) for ref in references])


def pick(context: Mapping[str, Any], ref: Reference) -> Any:
    """The value at `ref`, or the value of the deepest prefix that is not a plain key."""
    value = context.get(ref[0], _MISSING)
    for part in ref[1:]:
        # `x.items` on a dict is the method, not a key: the whole dict is the input then.
        if isinstance(value, dict) and part in value and not hasattr(dict, part):
            value = value[part]
        else:
            break
    return value
