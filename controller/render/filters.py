"""The filters fleet templates can use beside Jinja's own (registered by `templating`).

`to_yaml`, `to_json`, `b64encode`, `b64decode`, `combine` (deep merge by default, like
Ansible's `combine(recursive=True)`), `hash` (sha256 hex by default). Each is a plain
function, documented in docs/fleet-repository.md; a `ValueError` they raise becomes a
render problem naming the template line. An undefined value given to a filter, even
nested in a list or dict, fails as Jinja's own `UndefinedError` (naming the variable)
instead of reaching `json` or `yaml`, whose errors would only speak of Python types.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
import yaml


def _defined(value: Any) -> Any:
    """`value`, after failing with the template's undefined error if any part is undefined."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _defined(key)
            _defined(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _defined(item)
    return value


def to_yaml(value: Any, indent: int = 2) -> str:
    text = yaml.dump(
        _defined(value),
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        indent=indent,
    )
    if text.endswith("\n...\n"):  # a plain scalar gets an explicit document end
        text = text[: -len("\n...\n")]
    return text.rstrip("\n")


def to_json(value: Any, indent: int | None = None, sort_keys: bool = False) -> str:
    return json.dumps(_defined(value), indent=indent, sort_keys=sort_keys, ensure_ascii=False)


def b64encode(value: Any, encoding: str = "utf-8") -> str:
    data = value if isinstance(value, bytes) else str(value).encode(encoding)
    return base64.b64encode(data).decode("ascii")


def b64decode(value: Any, encoding: str = "utf-8") -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode(encoding)
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"b64decode: not valid base64 text: {exc}") from exc


def combine(*dicts: Any, recursive: bool = True, list_merge: str = "replace") -> dict[str, Any]:
    """Merge dicts left to right; nested dicts merge too unless `recursive=false`.

    `list_merge`: replace (default), append or prepend — what happens to two lists
    under the same key.
    """
    if list_merge not in ("replace", "append", "prepend"):
        raise ValueError("combine: list_merge must be replace, append or prepend")
    result: dict[str, Any] = {}
    for item in dicts:
        _defined(item)
        if not isinstance(item, Mapping):
            raise ValueError(f"combine: expected dicts, got {type(item).__name__}")
        result = _merge(result, item, recursive, list_merge)
    return result


def _merge(
    low: Mapping[str, Any], high: Mapping[str, Any], recursive: bool, list_merge: str
) -> dict[str, Any]:
    merged = dict(low)
    for key, value in high.items():
        old = merged.get(key)
        if recursive and isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(old, value, recursive, list_merge)
        elif isinstance(old, list) and isinstance(value, list) and list_merge != "replace":
            merged[key] = old + value if list_merge == "append" else value + old
        else:
            merged[key] = value
    return merged


def hash_filter(value: Any, algorithm: str = "sha256") -> str:
    """Hex digest of a string (or of the canonical JSON of any other value)."""
    if algorithm not in hashlib.algorithms_guaranteed:
        known = ", ".join(sorted(hashlib.algorithms_guaranteed))
        raise ValueError(f"hash: unknown algorithm {algorithm!r} (known: {known})")
    _defined(value)
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.new(algorithm, data).hexdigest()


FILTERS: dict[str, Callable[..., Any]] = {
    "to_yaml": to_yaml,
    "to_json": to_json,
    "b64encode": b64encode,
    "b64decode": b64decode,
    "combine": combine,
    "hash": hash_filter,
}
