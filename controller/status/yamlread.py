"""Read status files back fast: the block YAML `yamltext` writes, parsed directly.

Used by `parse_entry` (controller/status/book.py), so by `shoal status` and by the
status writer when it opens the branch. PyYAML's loader builds every value in Python
(0.1 ms a node file: a second for 10,000); the files the controller writes have a
fixed shape (block mappings and lists, two-space indents, plain or double-quoted
strings, integers, booleans, null, `{}` and `[]`), which this reads line by line about
ten times faster. Anything else (a file edited by hand, a comment, a float, a flow
mapping, another quoting style) raises `NotOurs`, and the caller reads it with PyYAML:
what this returns is always what `yaml.safe_load` returns (pinned by
tests/status/test_yamlread.py).
"""

from __future__ import annotations

import re
from typing import Any

from controller.status.yamltext import PLAIN, RESERVED

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
# The escapes `yamltext.quoted` writes; any other escape is read by PyYAML.
_ESCAPE = re.compile(r'\\(?:(["\\])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.?))')
_BREAKS = frozenset("\u2028\u2029\x85\ufeff")


class NotOurs(ValueError):
    """The text is not in the shape `yamltext` writes: read it with PyYAML."""


def load(text: str) -> dict[str, Any]:
    """The mapping in `text`, as `yaml.safe_load` reads it; `NotOurs` when it is not
    in yamltext's shape."""
    if text == "{}\n":
        return {}
    if not text.endswith("\n"):
        raise NotOurs("no final newline")
    reader = _Reader(text[:-1].split("\n"))
    value = reader.mapping(0)
    if reader.pos != len(reader.lines) or not value:
        raise NotOurs(f"line {reader.pos + 1}")
    return value


class _Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.pos = 0

    def mapping(self, indent: int) -> dict[str, Any]:
        lines = self.lines
        out: dict[str, Any] = {}
        pad = " " * indent
        while self.pos < len(lines):
            line = lines[self.pos]
            if not line.startswith(pad) or line[indent : indent + 1] in (" ", "-", ""):
                break
            key, rest = _split_key(line[indent:])
            if key is None:
                raise NotOurs(f"line {self.pos + 1}")
            self.pos += 1
            value = self.nested(indent) if rest is None else _inline(rest)
            if key in out:
                raise NotOurs(f"key {key!r} twice")
            out[key] = value
        return out

    def nested(self, indent: int) -> Any:
        """The block value after `key:` on its own line: a list at the key's indent,
        or a mapping two spaces in."""
        following = self.lines[self.pos] if self.pos < len(self.lines) else ""
        if following.startswith(" " * indent + "-"):
            return self.sequence(indent)
        inner = indent + 2
        if following.startswith(" " * inner) and following[inner : inner + 1] not in (" ", "-"):
            return self.mapping(inner)
        raise NotOurs(f"line {self.pos + 1}")

    def sequence(self, indent: int) -> list[Any]:
        lines = self.lines
        out: list[Any] = []
        dash = " " * indent + "-"
        while self.pos < len(lines) and lines[self.pos].startswith(dash):
            rest = lines[self.pos][indent + 1 :]
            if rest == "":  # `-` alone: a list in the list, two spaces in
                self.pos += 1
                following = lines[self.pos] if self.pos < len(lines) else ""
                if not following.startswith(" " * (indent + 2) + "-"):
                    raise NotOurs(f"line {self.pos + 1}")
                out.append(self.sequence(indent + 2))
            elif rest.startswith(" ") and rest[1:2] not in (" ", ""):
                content = rest[1:]
                key, _ = _split_key(content)
                if key is None:
                    self.pos += 1
                    out.append(_inline(content))
                else:  # a mapping: its first entry shares the dash's line
                    lines[self.pos] = " " * (indent + 2) + content
                    out.append(self.mapping(indent + 2))
            else:
                raise NotOurs(f"line {self.pos + 1}")
        return out


def _split_key(content: str) -> tuple[str | None, str | None]:
    """(key, the rest after `: `, or None when the line ends at the colon); (None, None)
    when `content` is not a mapping entry."""
    if content.startswith('"'):
        end = _quote_end(content)
        key_text, after = content[: end + 1], content[end + 1 :]
        if after == ":":
            return _quoted(key_text), None
        if after.startswith(": "):
            return _quoted(key_text), after[2:]
        return None, None
    cut = content.find(": ")
    if cut >= 0:
        key_text, rest = content[:cut], content[cut + 2 :]
    elif content.endswith(":"):
        key_text, rest = content[:-1], None
    else:
        return None, None
    if not PLAIN.match(key_text) or key_text.lower() in RESERVED:
        raise NotOurs(f"key {key_text!r}")
    return key_text, rest


def _quote_end(text: str) -> int:
    """The index of the `"` closing the string `text` starts."""
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i
        i += 1
    raise NotOurs("an unclosed string")


def _quoted(text: str) -> str:
    body = text[1:-1]
    for ch in body:
        if not ch.isprintable() or ch in _BREAKS:
            raise NotOurs("a character yamltext escapes")
    if "\\" not in body:
        return body
    return _ESCAPE.sub(_unescape, body)


def _unescape(match: re.Match[str]) -> str:
    plain, x, u, big, other = match.groups()
    if plain:
        return plain
    code = x or u or big
    if code is None or other is not None:
        raise NotOurs("an escape yamltext does not write")
    value = int(code, 16)
    if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
        raise NotOurs("a surrogate escape")
    return chr(value)


def _inline(text: str) -> Any:
    if text.startswith('"'):
        if _quote_end(text) != len(text) - 1:
            raise NotOurs(f"text after a string: {text[:40]!r}")
        return _quoted(text)
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if text == "null":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    if _INT.match(text):
        return int(text)
    if PLAIN.match(text) and text.lower() not in RESERVED:
        return text
    raise NotOurs(f"the value {text[:40]!r}")
