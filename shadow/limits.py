"""Bounded JSON decoding: the size and depth limits every reader of untrusted bytes applies.

Anyone who may publish on a topic can send anything: 100 MB, `[[[[...` nested a million
deep, bytes that are not UTF-8, escapes of lone surrogates that no UTF-8 encoder takes
back. `decode_json` checks the size before it decodes, the nesting depth before it
parses (a scan of the bytes; the parser itself would recurse), refuses invalid UTF-8
and lone surrogates, and raises `LimitError` (a `DocumentError`) saying which limit
was hit. The edge reads Desired documents with `DESIRED_LIMITS`, the controller's
status writer reads reports with `REPORTED_LIMITS`; `parse_json` in `documents` calls it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from shadow.errors import BadInput

MIB: Final = 1024 * 1024


class LimitError(BadInput, ValueError):
    """Input over a decoding limit, or text that is not valid Unicode; says which."""


@dataclass(frozen=True)
class DecodeLimits:
    """The most a decoder accepts: bytes in the payload and nesting of arrays/objects."""

    max_bytes: int
    max_depth: int


# A node's Desired document: every app's objects; ConfigMaps may hold files.
DESIRED_LIMITS: Final = DecodeLimits(max_bytes=8 * MIB, max_depth=100)
# A Reported document: states and messages, a few levels deep.
REPORTED_LIMITS: Final = DecodeLimits(max_bytes=1 * MIB, max_depth=32)

# A JSON string (escapes included): its brackets are not structure.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_TO_PARENS = bytes.maketrans(b"[{]}", b"(())")
_NOT_PARENS = bytes(b for b in range(256) if b not in b"()")
# The escape of a UTF-16 surrogate: JSON can carry one alone, UTF-8 cannot.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def nesting_depth(payload: bytes, stop: int) -> int:
    """How deep arrays and objects nest in JSON `payload` (at most `stop` + 1), unparsed.

    Each pass deletes the innermost pairs, `[]` or `{}`, so one level goes per pass.
    """
    structure = _STRING.sub(b"", payload.translate(_TO_PARENS)).translate(None, _NOT_PARENS)
    depth = 0
    while b"()" in structure and depth <= stop:
        structure = structure.replace(b"()", b"")
        depth += 1
    return depth + structure.count(b"(")  # unclosed ones nest too (and fail to parse)


def decode_json(payload: bytes | str, limits: DecodeLimits) -> Any:
    """The JSON value in `payload`; `LimitError` over a limit, `ValueError` if not JSON."""
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    if len(data) > limits.max_bytes:
        raise LimitError(f"{len(data):,} bytes, over the size limit of {limits.max_bytes:,} bytes")
    opened = data.count(b"[") + data.count(b"{")  # an upper bound of the depth
    depth = nesting_depth(data, limits.max_depth) if opened > limits.max_depth else 0
    if depth > limits.max_depth:
        raise LimitError(f"nested more than {limits.max_depth} levels deep (the depth limit)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LimitError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(text)
    except RecursionError:  # not reached within the depth limit; a guard all the same
        raise LimitError("nested too deeply to decode") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LimitError(
                "holds text that is not valid Unicode (a lone surrogate escape, "
                f"\\u{ord(exc.object[exc.start]):04x}): it cannot be stored as UTF-8"
            ) from None
    return value
