"""Read YAML files keeping the line of every value, so errors can name a line.

`loading` reads each fleet file with `read_yaml`; a JSON-Schema error's path
(`vars.replicas`) is turned into a line with `YamlDocument.line_of`. `rendering`
parses template output with `load_all` (the hot path: libyaml, no line map).

Both use a loader without YAML 1.1 timestamps: `2024-01-01` stays the string a
Kubernetes manifest means, so every value is JSON-compatible.

Both are bounded (`YamlLimits`), because a fleet file comes from a pull request and a
template's output from its author: the size before reading (`read_file`), the nesting
depth before composing (libyaml's composer recurses in C: 100,000 `[` crash the
process), and, once composed, the depth and the number of values with every alias
expanded. An alias is shared, never copied (a 350-byte "billion laughs" file stays
350 bytes of nodes), and a self-referencing alias is an error naming its line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from shadow.errors import BadInput

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlLimits:
    """The most one YAML text may hold."""

    max_bytes: int = 4 * 1024 * 1024  # of a file, checked before it is read
    max_depth: int = 64  # collections inside collections
    max_values: int = 250_000  # scalars and collections, every alias expanded


DEFAULT_LIMITS = YamlLimits()


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
    text: str | None = None  # kept instead of `lines` by `compact` (read again if asked)

    def compact(self, text: str) -> None:
        """Keep `text` instead of the line of every path: a valid file's lines are
        rarely asked for, and a 100,000-node fleet keeps every node file's document."""
        self.lines = {}
        self.text = text

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`, or of its nearest enclosing value that has one."""
        if self.text is not None:
            self.lines, self.text = read_yaml(self.text).lines, None
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


def read_file(path: Any, limits: YamlLimits = DEFAULT_LIMITS) -> str:
    """The UTF-8 text of a YAML file, refused (YamlSyntaxError) over the size limit
    before a byte is read; OSError and UnicodeDecodeError as `read_text` raises them."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise YamlSyntaxError(
            f"the file is {size:,} bytes, over the size limit of {limits.max_bytes:,} bytes",
            None,
        )
    text: str = path.read_text("utf-8")
    return text


def read_yaml(text: str, limits: YamlLimits = DEFAULT_LIMITS) -> YamlDocument:
    """Parse a single YAML document, recording lines; raises YamlSyntaxError."""
    _check_nesting(text, limits)
    loader = PlainLoader(text)
    try:
        node = loader.get_single_node()
        data = None
        if node is not None:
            data = _construct_bounded(node, loader, text, limits)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from exc
    finally:
        loader.dispose()
    document = YamlDocument(data)
    if node is not None:
        _record_lines(node, (), document, set())
    return document


def _check_nesting(text: str, limits: YamlLimits) -> None:
    """Refuse text nested deeper than the limit before libyaml composes it.

    Block nesting needs about a column per level and flow nesting a bracket, so a text
    whose longest line and brackets allow no deep nesting is composed at once; any
    other is first scanned event by event (libyaml's parser does not recurse).
    """
    brackets = text.count("[") + text.count("{")
    if 2 * len(text) + brackets + 2 <= _SAFE_TO_COMPOSE:
        return  # short: no line in it can be long
    longest = max(map(len, text.split("\n")), default=0)
    if 2 * longest + brackets + 2 <= _SAFE_TO_COMPOSE:
        return
    depth = 0
    loader = PlainLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limits.max_depth:
                    mark = event.start_mark
                    raise _too_deep(mark.line + 1 if mark else None, limits)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from exc
    finally:
        loader.dispose()


# Far below the depth at which libyaml's recursive composer overflows the C stack.
_SAFE_TO_COMPOSE = 5_000


def _too_deep(line: int | None, limits: YamlLimits) -> YamlSyntaxError:
    return YamlSyntaxError(
        f"nested more than {limits.max_depth} levels deep (the depth limit)", line
    )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _measure(root: yaml.Node, limits: YamlLimits) -> None:
    """Check depth and expanded size of a composed tree; an alias cycle is an error.

    Iterative, each node once (sizes are summed over shared nodes, never expanded).
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()  # the path from the root to the node being visited
    stack: list[tuple[yaml.Node, yaml.Node | None, bool]] = [(root, None, False)]
    while stack:
        node, parent, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if depth[key] > limits.max_depth + 1:  # + 1: a scalar is not a level
                raise _too_deep(node.start_mark.line + 1, limits)
            if size[key] > limits.max_values:
                raise YamlSyntaxError(
                    f"holds more than {limits.max_values:,} values with its aliases expanded "
                    "(the size limit; an alias of an alias of ... multiplies)",
                    node.start_mark.line + 1,
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            where = parent if parent is not None else node
            raise YamlSyntaxError(
                f"an alias refers to a value that contains it (anchored on line "
                f"{node.start_mark.line + 1}): it would never end",
                where.start_mark.line + 1,
            )
        open_nodes.add(key)
        stack.append((node, parent, True))
        stack.extend((child, node, False) for child in reversed(_children(node)))


def _construct_bounded(node: yaml.Node, loader: Any, text: str, limits: YamlLimits) -> Any:
    """The value of a composed document, within `limits`.

    Without an alias (no `*` in the text) the values are no more than the text holds,
    and `_construct` checks the depth as it goes; with one, or for the tags PyYAML's
    constructor handles, `_measure` checks the whole tree first.
    """
    measured = "*" in text
    if measured:
        _measure(node, limits)
    try:
        return _construct(node, loader, {}, limits.max_depth)
    except _TooDeep:
        raise _too_deep(node.start_mark.line + 1, limits) from None
    except _Unusual:
        if not measured:
            _measure(node, limits)
        try:
            value = loader.construct_document(node)
        except _MISMATCH:
            raise _mismatch(_first_tagged(node, loader)) from None
        _check_plain(value, node.start_mark.line + 1)
        return value


def _first_tagged(root: yaml.Node, loader: Any) -> yaml.Node:
    """The first scalar whose tag cannot hold its value (else the document's root)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        constructor = loader.yaml_constructors.get(node.tag)
        if isinstance(node, yaml.ScalarNode) and node.tag != _STR and constructor:
            try:
                constructor(loader, node)
            except _MISMATCH:
                return node
        stack.extend(reversed(_children(node)))
    return root


def _check_plain(value: Any, line: int) -> None:
    """Refuse what JSON cannot hold (`!!binary` bytes, `!!set`, a key that is a list):
    fleet files and manifests are JSON-compatible data. Each value once (aliases)."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:
                continue
            seen.add(id(item))
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise _not_plain(key, line)
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
        elif not isinstance(item, str | int | float | bool) and item is not None:
            raise _not_plain(item, line)


def _not_plain(value: Any, line: int) -> YamlSyntaxError:
    kind = "bytes (!!binary)" if isinstance(value, bytes) else type(value).__name__
    return YamlSyntaxError(
        f"holds a value of type {kind}: only JSON-compatible data (mappings, lists, strings, "
        "numbers, booleans, null) is allowed",
        line,
    )


def _record_lines(node: yaml.Node, path: Path, document: YamlDocument, visited: set[int]) -> None:
    document.lines[path] = node.start_mark.line + 1
    if id(node) in visited:  # an alias: what is inside has its lines at the anchor
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            if key in seen:
                document.duplicates.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            # A key's line is where the key is written, which is what a person looks for.
            _record_lines(value_node, (*path, key), document, visited)
            document.lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), document, visited)


def load_all(text: str, limits: YamlLimits = DEFAULT_LIMITS) -> Iterator[Any]:
    """Every document of a multi-document YAML text; raises YamlSyntaxError.

    libyaml composes the node tree; `_construct` turns the common tags (map, seq,
    str, int, float, bool, null) into Python values about twice as fast as PyYAML's
    generic constructor, which still handles anything unusual (merge keys, !!binary).
    """
    _check_nesting(text, limits)
    loader = PlainLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield _construct_bounded(node, loader, text, limits)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from exc
    finally:
        loader.dispose()


class _Unusual(Exception):
    """A node `_construct` leaves to PyYAML's constructor."""


class _TooDeep(Exception):
    """Collections nested deeper than the limit."""


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_STR = "tag:yaml.org,2002:str"
_SCALARS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null"))


def _construct(node: yaml.Node, loader: Any, shared: dict[int, Any], room: int) -> Any:
    """The value of `node`; `shared` holds the collections built so far, by node, so an
    alias gets the very value of its anchor (as PyYAML's own constructor does)."""
    tag = node.tag
    if tag == _STR:
        return node.value
    if tag == _MAP:
        if id(node) in shared:
            return shared[id(node)]
        if not room:
            raise _TooDeep
        result: dict[Any, Any] = {}
        shared[id(node)] = result
        for key_node, value_node in node.value:
            key_tag = key_node.tag
            if key_tag == _STR:
                key = key_node.value
            elif key_tag in _SCALARS:  # `<<` merge keys are not: PyYAML handles them
                key = _scalar(key_node, loader)
            else:
                raise _Unusual
            result[key] = _construct(value_node, loader, shared, room - 1)
        return result
    if tag == _SEQ:
        if id(node) in shared:
            return shared[id(node)]
        if not room:
            raise _TooDeep
        items: list[Any] = []
        shared[id(node)] = items
        items.extend(_construct(item, loader, shared, room - 1) for item in node.value)
        return items
    if tag in _SCALARS:
        return _scalar(node, loader)
    raise _Unusual


# What PyYAML's constructors raise for a value its tag cannot hold (`!!bool foo` is a
# KeyError, `!!int x` a ValueError, `!!timestamp x` an AttributeError): not YAMLErrors.
_MISMATCH = (KeyError, ValueError, TypeError, AttributeError, OverflowError)


def _scalar(node: yaml.Node, loader: Any) -> Any:
    try:
        return loader.yaml_constructors[node.tag](loader, node)
    except _MISMATCH:
        raise _mismatch(node) from None


def _mismatch(node: yaml.Node) -> YamlSyntaxError:
    tag = str(node.tag).removeprefix("tag:yaml.org,2002:")
    value = node.value if isinstance(node, yaml.ScalarNode) else ""
    return YamlSyntaxError(
        f"invalid YAML: {value[:40]!r} is not a valid !!{tag} (drop the tag, or quote the value)",
        node.start_mark.line + 1,
    )
