"""Node-specific templates rendered and parsed once: the node name as a placeholder.

Almost every real template names its node somewhere (`NODE_NAME: "{{ node.name }}"`),
so without help every node renders, parses and checks its own text. `rendering`
asks this module to do that work once per distinct rest of the context instead:

1. `prints_name_only(tree)` (at compile time, `templating`): the template reads the
   node's name only as a whole output expression (`{{ node.name }}`, no filter, no
   test, no macro or block that could capture it) and nothing else of the node but
   its tags. Then its output for a name N is its output for a placeholder P of the
   same length with every P replaced by N — provided P occurs nowhere else, which
   `skeleton_text` checks: P never overlaps itself, so its occurrences are disjoint,
   and their count must equal the number of names printed, learnt from the length
   difference of a second render with a placeholder one character longer.
2. `Skeleton`: the placeholder text parsed once as YAML. A name and its placeholder
   are made of `[a-z0-9._-]`, start with a letter or digit and have the same
   length, so no YAML token ends, starts or changes inside them: the text with the
   name parses to the same tree, with P replaced by N in every string (keys too).
   What still could differ is checked on each substitution, and anything not
   shown equal is parsed from the real text instead (`substitute` returns None):
   a plain string that would resolve to a number or boolean (`1e3`), keys that
   would collide, a backslash escape next to the name (the placeholder starts with
   `q`, never part of an escape, so such a text fails to parse as a skeleton).
   Aliases and merge keys are left to the real parse.

The substituted documents then go through the same checks as parsed ones
(`manifests.objects_from_documents`, the Kubernetes schema, policy); subtrees
without the name are shared with the skeleton (read-only, like every rendered
object). tests/rendering/test_memo_equivalence.py checks digests equal a naive render.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from jinja2 import nodes

from controller.fleet.yamlreader import PlainLoader, YamlSyntaxError, load_all

# What a node name is made of (schemas/node.schema.json), and a placeholder too.
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
_STR = "tag:yaml.org,2002:str"
# Constructs whose output can be captured and transformed, or that read other templates.
_CAPTURING = (
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.AssignBlock,
    nodes.Block,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Extends,
    nodes.EvalContextModifier,
)


def prints_name_only(tree: nodes.Template) -> bool:
    """True when `tree` reads `node.name`, and only as a whole `{{ node.name }}`, and
    reads nothing else of `node` but `node.tags` (which the memo key holds)."""
    if any(tree.find_all(_CAPTURING)):
        return False
    printed = 0

    def visit(node: nodes.Node, in_output: bool) -> bool:
        nonlocal printed
        if isinstance(node, nodes.Name) and node.name in ("node", "secret"):
            return False  # `node` whole, assigned, or `secret()` (it names the node)
        if isinstance(node, nodes.Getattr | nodes.Getitem) and _on_node(node):
            key = _key(node)
            if key == "tags":
                return True
            if key == "name" and in_output:
                printed += 1
                return True
            return False
        child_in_output = isinstance(node, nodes.Output)
        return all(visit(child, child_in_output) for child in node.iter_child_nodes())

    return visit(tree, False) and printed > 0


def _on_node(node: nodes.Getattr | nodes.Getitem) -> bool:
    inner = node.node
    return isinstance(inner, nodes.Name) and inner.name == "node" and inner.ctx == "load"


def _key(node: nodes.Getattr | nodes.Getitem) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    arg = node.arg
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None


def placeholder(name: str) -> str | None:
    """The placeholder standing for `name` (same length, never overlapping itself);
    None when the name is not one this shortcut can stand in for."""
    if not _NAME.match(name):
        return None
    return "q" + "z" * (len(name) - 1)


def skeleton_text(render: Callable[[str], str | None], name: str) -> str | None:
    """The output for the placeholder of `name`, when each of its occurrences is a
    printed name (see the module docstring); `render(value)` renders the template
    with `node.name = value` (None: it failed)."""
    hole = placeholder(name)
    if hole is None:
        return None
    text, longer = render(hole), render(hole + "z")
    if text is None or longer is None:
        return None
    printed = len(longer) - len(text)
    return text if printed >= 0 and text.count(hole) == printed else None


class Skeleton:
    """A placeholder text parsed once; `substitute(name)` gives the documents of the
    text with the name, or None when the real text must be parsed instead."""

    def __init__(self, text: str, hole: str) -> None:
        self.text = text
        self.hole = hole
        self.documents: list[Any] | None = None
        self.holding: set[int] = set()  # ids of the collections the placeholder is in
        self.same_metadata: list[bool] = []
        if "*" in text or "<<" in text:
            return  # aliases share values, merge keys combine maps: parse the real text
        try:
            documents = list(load_all(text))
        except (YamlSyntaxError, yaml.YAMLError, ValueError, KeyError, TypeError):
            return  # the real text says what is wrong with it
        for document in documents:
            self._find(document)
        self.documents = documents  # holds every collection, so the ids stay theirs
        # Per object (document but null ones): its metadata is the same on every node.
        self.same_metadata = [
            not isinstance(doc, dict) or id(doc.get("metadata")) not in self.holding
            for doc in documents
            if doc is not None
        ]

    def _find(self, value: Any) -> bool:
        if isinstance(value, str):
            return self.hole in value
        if isinstance(value, dict):
            found = [
                (isinstance(k, str) and self.hole in k) | self._find(v) for k, v in value.items()
            ]
        elif isinstance(value, list):
            found = [self._find(item) for item in value]
        else:
            return False
        if any(found):
            self.holding.add(id(value))
            return True
        return False

    def substitute(self, name: str) -> list[Any] | None:
        if self.documents is None or len(name) != len(self.hole):
            return None
        try:
            return [self._replace(doc, name, True) for doc in self.documents]
        except _NotEqual:
            return None

    def _replace(self, value: Any, name: str, fresh: bool) -> Any:
        """`value` with the placeholder replaced by `name` in every string; the
        top-level mapping and its `metadata` are always new (they are finished in
        place); collections without the placeholder are shared."""
        if isinstance(value, str):
            return self._string(value, name)
        if isinstance(value, dict):
            if not fresh and id(value) not in self.holding:
                return value
            result = {
                self._string(k, name) if isinstance(k, str) else k: v for k, v in value.items()
            }
            if len(result) != len(value):
                raise _NotEqual  # two keys became one
            top = fresh and value is not None and "metadata" in value
            for key, inner in result.items():
                result[key] = self._replace(inner, name, top and key == "metadata")
            return result
        if isinstance(value, list) and id(value) in self.holding:
            return [self._replace(item, name, False) for item in value]
        return value

    def _string(self, value: str, name: str) -> str:
        if self.hole not in value:
            return value
        replaced = value.replace(self.hole, name)
        if _resolver.resolve(yaml.ScalarNode, replaced, (True, False)) != _STR:
            raise _NotEqual  # written plain, it would be a number, a boolean or null
        return replaced


class _NotEqual(Exception):
    """The text with the name might not parse like the skeleton: parse it."""


_resolver = PlainLoader("")
