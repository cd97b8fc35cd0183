"""Block-style YAML text for status files, about 15x faster than `yaml.dump`.

The status writer writes up to one file per node per commit; with 1,000 nodes PyYAML's
emitter alone took a fifth of the 2-second budget. Status data is plain (mappings,
lists, strings, numbers, booleans, None), so this emits it directly: a string is
written plain when no YAML 1.1 reader could take it for anything else, and double-quoted
with escapes otherwise. Round-trips through
`yaml.safe_load` (pinned by tests/status/test_yamltext.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Letters first, then a conservative set: no spaces, quotes, '#', ': ' or flow characters.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./@+-]*(:[A-Za-z0-9_./@+-]+)*\Z")
# Words YAML 1.1 resolves to booleans or null.
_RESERVED = frozenset({"yes", "no", "true", "false", "on", "off", "null", "y", "n"})
# What controller/status/yamlread.py reads back as plain strings.
PLAIN, RESERVED = _PLAIN, _RESERVED


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return quoted(text)


# Printable characters YAML still reads as line breaks or a byte-order mark.
_BREAKS = frozenset("\u2028\u2029\x85\ufeff")


def quoted(text: str) -> str:
    """A YAML double-quoted scalar; escapes everything not plainly printable."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable() and ch not in _BREAKS:
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x100:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


# Text of string scalars seen before: keys, states, revisions and digests repeat across
# thousands of node files. Bounded: cleared when full.
_SCALARS: dict[str, str] = {}
_SCALARS_MAX = 1 << 16


def _text(value: str) -> str:
    done = _SCALARS.get(value)
    if done is None:
        done = scalar(value)
        if len(_SCALARS) >= _SCALARS_MAX:
            _SCALARS.clear()
        _SCALARS[value] = done
    return done


def _lines(value: Mapping[Any, Any], indent: str, out: list[str]) -> None:
    """Append the block lines of a non-empty mapping at `indent`.

    Plain dicts, lists and strings (all the status files hold) take the fast paths;
    anything else goes through the generic `Mapping`/`Sequence` tests, to the same text.
    """
    append = out.append
    for key, item in value.items():
        head = f"{indent}{_text(key) if type(key) is str else scalar(key)}:"
        kind = type(item)
        if kind is str:
            append(f"{head} {_text(item)}")
        elif kind is dict:
            if item:
                append(head)
                _lines(item, indent + "  ", out)
            else:
                append(f"{head} {{}}")
        elif kind is list:
            if item:
                append(head)
                _items(item, indent, out)
            else:
                append(f"{head} []")
        elif kind is int or kind is bool or item is None:
            append(f"{head} {scalar(item)}")
        elif isinstance(item, Mapping) and item:
            append(head)
            _lines(item, indent + "  ", out)
        elif isinstance(item, Sequence) and not isinstance(item, str) and item:
            append(head)
            _items(item, indent, out)
        else:
            append(f"{head} {_inline(item)}")


def _items(values: Sequence[Any], indent: str, out: list[str]) -> None:
    for item in values:
        kind = type(item)
        if kind is str:
            out.append(f"{indent}- {_text(item)}")
        elif (kind is dict or isinstance(item, Mapping)) and item:
            start = len(out)
            _lines(item, indent + "  ", out)
            out[start] = f"{indent}- {out[start][len(indent) + 2 :]}"
        elif (kind is list or (isinstance(item, Sequence) and not isinstance(item, str))) and item:
            out.append(f"{indent}-")
            _items(item, indent + "  ", out)
        else:
            out.append(f"{indent}- {_inline(item)}")


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[]"
    return scalar(value)


def to_yaml(data: Mapping[str, Any]) -> str:
    """A mapping as block-style YAML text."""
    if not data:
        return "{}\n"
    out: list[str] = []
    _lines(data, "", out)
    return "\n".join(out) + "\n"
