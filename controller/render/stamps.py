"""One app entry for every node that differs only in its name: `Stamp`.

`rendering` renders an app whose templates print the node's name whole
(`controller.render.placeholders`) from a plan shared by the nodes whose inputs are
the same but for the name. Without a stamp, each of those nodes still gets its own
objects from the skeleton, its own checks (Kubernetes schema, names, policy, sealed
values, duplicates) and its own canonical JSON for the digest. A `Stamp` does that
work once, for the placeholder, and gives each node its entry by substitution:

- the objects: the placeholder's, with each string holding the placeholder P
  rewritten (P -> the name) and only the collections on the way to one copied;
- the digest: the placeholder entry's canonical JSON cut at each P of the node's
  own objects, joined with the name. Exact: P (`qz...z`) and a name are made of
  `[a-z0-9._-]`, which JSON never escapes, and `q`/`z` occur in canonical JSON only
  inside strings (no escape, number or literal holds them), so the encoding of a
  string with P replaced is its encoding with P replaced; no key holds P, so the
  keys sort the same;
- the checks: their verdict on the placeholder holds for every name when P occurs
  only where no check reads it. `build` proves that or returns None (the nodes then
  render one by one, as before): P is in no key, not in apiVersion, kind or
  metadata (what names, namespaces, the finishing labels, duplicates, objects
  shared between apps and, outside RBAC, the policy read), in no RBAC object (whose
  rules the policy reads), in no object holding a sealed value, and the Kubernetes
  schema judges the strings holding it by type and length alone
  (`KubernetesSchemas.free_strings`), which the name keeps.

What `entry(name)` still checks per node is what depends on the name itself: each
string with the name must still read as a string in YAML (`1e3`, `true` would not:
the node then renders from its own text, `placeholders.Skeleton.substitute`), and it
must not make a sealed value (`shoal-sealed:v1:`) appear. A placeholder render with
any problem gives no stamp: each node then says its own problem (file, line, node).
tests/rendering/test_memo_equivalence.py checks digests equal a naive render.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import yaml

from controller.fleet.model import App
from controller.fleet.yamlreader import PlainLoader
from controller.render.kubeschema import KubernetesSchemas
from controller.render.manifests import object_keys
from shadow import DesiredApp, canonical_json, canonical_object
from shadow.canonical import DIGEST_PREFIX
from shadow.sealing import PREFIX, holds_sealed

_STR = "tag:yaml.org,2002:str"
_MARK = b"\0"  # never in canonical JSON (control characters are escaped)


class Stamp:
    """The placeholder's entry of one app and what differs from node to node."""

    def __init__(
        self,
        app: App,
        hole: str,
        resources: list[dict[str, Any]],
        own: list[bool],
        changes: dict[int, list[Any]],
        strings: list[str],
        segments: list[bytes],
        entry: DesiredApp,
    ) -> None:
        self.app = app
        self.hole = hole
        self.resources = resources  # the placeholder's objects (read-only, shared)
        self.own = own  # per object: it holds the placeholder
        self.own_indexes = [index for index, holds in enumerate(own) if holds]
        self.changes = changes  # per collection holding the placeholder: where it is
        self.strings = strings  # the distinct strings holding the placeholder
        self.segments = segments  # the entry's canonical JSON, cut at each placeholder
        self.head = hashlib.sha256(segments[0])  # what every node's digest starts with
        self.keys = object_keys(entry)  # every node's too: no name, kind or group holds it

    @classmethod
    def build(
        cls,
        app: App,
        hole: str,
        entry: DesiredApp,
        schemas: KubernetesSchemas,
        encode: Callable[[dict[str, Any]], bytes] = canonical_json,
    ) -> Stamp | None:
        """The stamp of `entry` (the app rendered for the placeholder `hole`, without a
        problem), or None when a check could read the name (see the module docstring);
        `encode` gives the canonical JSON of an object every node shares."""
        resources = list(entry.resources)
        own: list[bool] = []
        changes: dict[int, list[Any]] = {}
        strings: set[str] = set()
        parts: list[bytes | list[bytes]] = []
        for obj in resources:
            found: list[tuple[str | int, ...]] = []
            if not _collect(obj, hole, (), found, changes, strings):
                return None  # a key holds it, or a key is not a string
            if not found:
                own.append(False)
                parts.append(encode(obj))
                continue
            if any(path[0] in ("apiVersion", "kind", "metadata") for path in found):
                return None
            if "rbac" in str(obj.get("apiVersion")) or holds_sealed(obj):
                return None
            if not schemas.free_strings(obj, found):
                return None
            own.append(True)
            parts.append(canonical_json(obj).split(hole.encode()))
        members = {
            "version": canonical_json(app.version),
            "namespace": canonical_json(app.namespace),
            "resources": _MARK,
        }
        if app.policy:  # as `entries.assemble`: a default policy is left out
            members["policy"] = canonical_json([p.to_dict() for p in app.policy])
        before, after = canonical_object(members).split(_MARK)
        segments = [before + b"["]
        for index, part in enumerate(parts):
            if index:
                segments[-1] += b","
            if isinstance(part, bytes):
                segments[-1] += part
            else:
                segments[-1] += part[0]
                segments.extend(part[1:])
        segments[-1] += b"]" + after
        return cls(app, hole, resources, own, changes, sorted(strings), segments, entry)

    def entry(self, name: str) -> DesiredApp | None:
        """The node `name`'s entry (same length as the placeholder), or None when the
        name could change how YAML reads a string (the node renders on its own)."""
        hole = self.hole
        for value in self.strings:
            if not _reads_as_string(value.replace(hole, name)):
                return None
        changes = self.changes
        objects = list(self.resources)
        for index in self.own_indexes:
            objects[index] = _replaced(objects[index], hole, name, changes)
        resources = tuple(objects)
        app = self.app
        content = self.head.copy()  # = sha256 of name.encode().join(self.segments)
        encoded = name.encode()
        for segment in self.segments[1:]:
            content.update(encoded)
            content.update(segment)
        digest = DIGEST_PREFIX + content.hexdigest()
        return DesiredApp(app.version, app.namespace, resources, digest, app.policy)


def _collect(
    value: Any,
    hole: str,
    path: tuple[str | int, ...],
    found: list[tuple[str | int, ...]],
    changes: dict[int, list[Any]],
    strings: set[str],
) -> bool:
    """Note in `found` the path of each string holding `hole`, in `changes` per
    collection on the way the keys (indexes) leading to one; False when a key holds
    `hole` or is not a string."""
    if isinstance(value, str):
        if hole in value:
            found.append(path)
            strings.add(value)
        return True
    items: Any
    if isinstance(value, dict):
        if not all(isinstance(key, str) and hole not in key for key in value):
            return False
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return True
    leading = []
    for key, inner in items:
        before = len(found)
        if not _collect(inner, hole, (*path, key), found, changes, strings):
            return False
        if len(found) > before:
            leading.append(key)
    if leading:
        changes[id(value)] = leading
    return True


def _replaced(value: Any, hole: str, name: str, changes: dict[int, list[Any]]) -> Any:
    """A copy of `value` (holding `hole`) with `hole` replaced by `name` in every
    string; what does not hold it is shared."""
    out = value.copy()
    for key in changes[id(value)]:
        inner = value[key]
        out[key] = (
            inner.replace(hole, name)
            if isinstance(inner, str)
            else _replaced(inner, hole, name, changes)
        )
    return out


@lru_cache(maxsize=65536)
def _reads_as_string(text: str) -> bool:
    """True when `text`, written plain in YAML, is a string and holds no sealed value."""
    return PREFIX not in text and _resolver.resolve(yaml.ScalarNode, text, (True, False)) == _STR


_resolver = PlainLoader("")
