"""Undefined template values that know which variable path is missing.

`templating` renders with `TracedUndefined`: Jinja's `StrictUndefined`, except that
the error it raises, `MissingValue`, keeps the object that was looked into and the
key that was not there. Jinja itself only knows the object's type ("'dict object'
has no attribute 'site'"); `describe_missing` finds where that object sits in the
template context (by identity: `node.tags`, `servers[0]`) and names the whole path
a person wrote: "undefined variable 'node.tags.site' (the node has no tag 'site')".
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.utils import missing, object_type_repr

from shadow.errors import BadInput

# Containers visited at most when looking for the object: a failure in a template
# reading a huge variable must not turn into a long search.
SEARCH_LIMIT = 10_000


class MissingValue(jinja2.UndefinedError, BadInput):
    """An undefined value was used: `name` was not found in `obj` (or, with `obj`
    missing, at the top level of the context)."""

    def __init__(self, message: str | None = None, obj: Any = missing, name: Any = None) -> None:
        super().__init__(message)
        self.obj = obj
        self.name = name


class TracedUndefined(jinja2.StrictUndefined):
    """`StrictUndefined` raising `MissingValue`, so the message can name the path."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[jinja2.TemplateRuntimeError] = jinja2.UndefinedError,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        if exc is jinja2.UndefinedError and hint is None:  # the sandbox passes SecurityError
            self._undefined_exception = functools.partial(MissingValue, obj=obj, name=name)  # type: ignore[assignment]


def describe_missing(error: MissingValue, context: Mapping[str, Any]) -> str:
    """`undefined variable 'settings.tls.cert'` — or, when the object looked into is
    not part of the context (built inside the template), what Jinja knows of it."""
    if error.obj is missing:
        return f"undefined variable {error.name!r}"
    parent = _path_to(context, error.obj)
    if parent is None:
        if not isinstance(error.name, str):
            return f"undefined: {object_type_repr(error.obj)} has no element {error.name!r}"
        return f"undefined: {object_type_repr(error.obj)!r} has no attribute or key {error.name!r}"
    path = parent + _step(error.name)
    if parent == "node.tags":
        return f"undefined variable {path!r} (the node has no tag {error.name!r})"
    return f"undefined variable {path!r}"


def _step(key: Any) -> str:
    """How a key is written after its parent: `.site`, `[0]`, `['a b']`."""
    if isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{key!r}]"


def _path_to(context: Mapping[str, Any], target: Any) -> str | None:
    """The shortest path from the context to `target` (a dict or list), by identity."""
    if not isinstance(target, dict | list):
        return None  # equal strings and numbers are often the same object: no telling
    queue: deque[tuple[Any, str]] = deque(
        (value, str(key)) for key, value in context.items() if isinstance(value, dict | list)
    )
    seen: set[int] = set()
    while queue and len(seen) < SEARCH_LIMIT:
        value, path = queue.popleft()
        if value is target:
            return path
        if id(value) in seen:
            continue
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        queue.extend(
            (child, path + _step(key)) for key, child in items if isinstance(child, dict | list)
        )
    return None
