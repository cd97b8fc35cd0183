"""Fast copies of JSON documents (dicts, lists and scalars).

The store hands out copies on every read and copies manifests on every write;
`copy.deepcopy` spent most of an apply's time on bookkeeping JSON never needs
(memo, reductors). Objects here only ever hold what `json.loads` produces.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def clone(value: T) -> T:
    """A deep copy of a JSON value."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [clone(v) for v in value]  # type: ignore[return-value]
    return value
