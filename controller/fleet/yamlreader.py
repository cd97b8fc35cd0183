"""Read YAML files keeping the line of every value, so errors can name a line.

`loading` reads each fleet file with `read_yaml`; a JSON-Schema error's path
(`vars.replicas`) is turned into a line with `YamlDocument.line_of`. `rendering`
parses template output with `load_all` (the hot path: libyaml, no line map).

Both use a loader without YAML 1.1 timestamps: `2024-01-01` stays the string a
Kubernetes manifest means, so every value is JSON-compatible.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from shadow.errors import BadInput

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path = tuple[str | int, ...]


class PlainLoader(_BaseLoader):  # type: ignore[misc]
    """libyaml's safe loader, minus timestamp resolution."""


PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


class YamlSyntaxError(BadInput, ValueError):
    """Text that is not valid YAML; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None) -> None:
        self.message = message
        self.line = line
        super().__init__(message)


@dataclass
class YamlDocument:
    """One parsed YAML document and the 1-based line of each path inside it."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    duplicates: list[tuple[Path, int]] = field(default_factory=list)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`, or of its nearest enclosing value that has one."""
        key = tuple(path)
        while True:
            if key in self.lines:
                return self.lines[key]
            if not key:
                return None
            key = key[:-1]


def _syntax_error(exc: yaml.YAMLError, text: str) -> YamlSyntaxError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"{context}, {problem}" if context else str(problem)
    start = getattr(exc, "context_mark", None)
    if start is not None and mark is not None and start.line != mark.line:
        # libyaml notices an unclosed bracket where the text ends; say where it opened.
        message += f" (the construct started on line {start.line + 1})"
    if mark is not None and "tab" not in message and _tab_at(text, mark.line, mark.column):
        # libyaml's wording ("cannot start any token") hides the usual cause.
        message += ": a tab character; YAML indents with spaces only (replace the tab with spaces)"
    return YamlSyntaxError(f"invalid YAML: {message}", mark.line + 1 if mark else None)


def _tab_at(text: str, line: int, column: int) -> bool:
    lines = text.splitlines()
    return 0 <= line < len(lines) and lines[line][column : column + 1] == "\t"


def read_yaml(text: str) -> YamlDocument:
    """Parse a single YAML document, recording lines; raises YamlSyntaxError."""
    loader = PlainLoader(text)
    try:
        node = loader.get_single_node()
        data = None
        if node is not None:
            try:
                data = _construct(node, loader)
            except _Unusual:
                data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from exc
    finally:
        loader.dispose()
    document = YamlDocument(data)
    if node is not None:
        _record_lines(node, (), document)
    return document


def _record_lines(node: yaml.Node, path: Path, document: YamlDocument) -> None:
    document.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            if key in seen:
                document.duplicates.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            # A key's line is where the key is written, which is what a person looks for.
            _record_lines(value_node, (*path, key), document)
            document.lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), document)


def load_all(text: str) -> Iterator[Any]:
    """Every document of a multi-document YAML text; raises YamlSyntaxError.

    libyaml composes the node tree; `_construct` turns the common tags (map, seq,
    str, int, float, bool, null) into Python values about twice as fast as PyYAML's
    generic constructor, which still handles anything unusual (merge keys, !!binary).
    """
    loader = PlainLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            try:
                yield _construct(node, loader)
            except _Unusual:
                yield loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from exc
    finally:
        loader.dispose()


class _Unusual(Exception):
    """A node `_construct` leaves to PyYAML's constructor."""


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_STR = "tag:yaml.org,2002:str"
_SCALARS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null"))


def _construct(node: yaml.Node, loader: Any) -> Any:
    tag = node.tag
    if tag == _STR:
        return node.value
    if tag == _MAP:
        result = {}
        for key_node, value_node in node.value:
            key_tag = key_node.tag
            if key_tag == _STR:
                key = key_node.value
            elif key_tag in _SCALARS:  # `<<` merge keys are not: PyYAML handles them
                key = loader.yaml_constructors[key_tag](loader, key_node)
            else:
                raise _Unusual
            result[key] = _construct(value_node, loader)
        return result
    if tag == _SEQ:
        return [_construct(item, loader) for item in node.value]
    if tag in _SCALARS:
        return loader.yaml_constructors[tag](loader, node)
    raise _Unusual
