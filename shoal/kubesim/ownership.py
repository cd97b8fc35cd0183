"""Field ownership for server-side apply, kept in `metadata.managedFields`.

A simplified model of the real structured-merge-diff:
- a *field* is a path to a leaf: maps are walked into, and so are the items of
  the associative lists of `mergekeys.MERGE_KEYS` (containers, env, volumes by
  name; volumeMounts by mountPath...), one path segment `k:{"name":"web"}` per
  item; every other value (scalars, other lists — ports, args, tolerations…) is
  one leaf.
- each manager owns a set of fields per operation ("Apply" or "Update"), written
  into `managedFields[].fieldsV1` in the real `f:<name>` / `k:{...}` notation.
- an apply by manager M: fields M applied before and no longer applies are removed
  from the object unless another manager owns them; fields it applies whose value
  differs from the live one and that another manager owns are conflicts (409)
  unless `force=true`, which moves ownership to M.
- an update (create, PUT, merge/JSON patch) makes its manager own the fields whose
  value it changed.

`apply_configuration` and `record_update` are called by `store.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from shoal.kubesim.clone import clone
from shoal.kubesim.mergekeys import MERGE_KEYS

Path = tuple[str, ...]

# Not part of any manager's fields: identity and server-kept metadata, and status.
_SYSTEM_METADATA = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
}


def _item_key(field: str, items: Any) -> str | None:
    """The key an associative list is merged by, or None to treat it as one value."""
    key = MERGE_KEYS.get(field)
    if key is None or not isinstance(items, list) or not items:
        return None
    if not all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items):
        return None
    if len({i[key] for i in items}) != len(items):
        return None  # duplicate keys: the real server refuses these; keep them whole
    return key


def _segment(key: str, item: dict[str, Any]) -> str:
    return "k:" + json.dumps({key: item[key]}, separators=(",", ":"))


def _find(items: list[Any], segment: str) -> int | None:
    wanted = json.loads(segment[2:])
    for index, item in enumerate(items):
        if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
            return index
    return None


def path_text(path: Path) -> str:
    """`.spec.template.spec.containers[name="web"].image`, as conflict messages print it."""
    text = ""
    for part in path:
        if part.startswith("k:"):
            text += (
                "["
                + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(part[2:]).items())
                + "]"
            )
        else:
            text += "." + part
    return text


def leaves(obj: dict[str, Any]) -> dict[Path, Any]:
    """The owned-able leaves of an object: everything but apiVersion/kind/status and
    the server's own metadata, flattened to path → value."""
    out: dict[Path, Any] = {}

    def walk(node: Any, prefix: Path) -> None:
        key = _item_key(prefix[-1], node) if prefix else None
        if isinstance(node, dict) and node:
            for name, value in node.items():
                walk(value, (*prefix, name))
        elif key is not None:
            for item in node:
                walk(item, (*prefix, _segment(key, item)))
        else:
            out[prefix] = node

    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for mkey, mvalue in value.items():
                if mkey not in _SYSTEM_METADATA:
                    walk(mvalue, ("metadata", mkey))
            continue
        walk(value, (key,))
    return out


def _overlaps(a: Path, b: Path) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _step(node: Any, part: str) -> tuple[bool, Any]:
    if part.startswith("k:") and isinstance(node, list):
        index = _find(node, part)
        return (False, None) if index is None else (True, index)
    if isinstance(node, dict) and part in node:
        return True, part
    return False, None


def lookup(obj: Any, path: Path) -> tuple[bool, Any]:
    node = obj
    for part in path:
        found, where = _step(node, part)
        if not found:
            return False, None
        node = node[where]
    return True, node


def _remove(obj: dict[str, Any], path: Path) -> None:
    """Delete the field at `path`, and the maps, list items and lists its removal
    leaves empty."""
    trail: list[tuple[Any, Any]] = []
    node: Any = obj
    for part in path:
        found, where = _step(node, part)
        if not found:
            return
        trail.append((node, where))
        node = node[where]
    for index, (parent, where) in enumerate(reversed(trail)):
        if index == 0 or parent[where] in ({}, []):
            del parent[where]
        else:
            break


def _deep_merge(live: dict[str, Any], config: dict[str, Any]) -> None:
    for name, value in config.items():
        current = live.get(name)
        key = _item_key(name, value)
        if isinstance(value, dict) and value and isinstance(current, dict):
            _deep_merge(current, value)
        elif key is not None and isinstance(current, list) and _item_key(name, current) == key:
            for item in value:
                index = _find(current, _segment(key, item))
                if index is None:
                    current.append(clone(item))
                else:
                    _deep_merge(current[index], item)
        else:
            live[name] = clone(value)


# --- managedFields <-> owned paths ------------------------------------------------


def _to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            if part.startswith("k:"):
                node = node.setdefault(part, {".": {}})  # "." : the item itself
            else:
                node = node.setdefault(f"f:{part}", {})
    return tree


def _from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> Iterator[Path]:
    children = [k for k in tree if k.startswith(("f:", "k:"))]
    if not children and prefix:
        yield prefix
    for child in children:
        part = child if child.startswith("k:") else child[2:]
        yield from _from_fields_v1(tree[child], (*prefix, part))


Owners = dict[tuple[str, str], set[Path]]  # (manager, operation) -> fields


def owners_of(obj: dict[str, Any]) -> Owners:
    owners: Owners = {}
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        key = (entry.get("manager", ""), entry.get("operation", "Update"))
        owners[key] = set(_from_fields_v1(entry.get("fieldsV1") or {}))
    return owners


def write_owners(
    obj: dict[str, Any], owners: Owners, api_version: str, now: str, touched: set[tuple[str, str]]
) -> None:
    """Store `owners` as managedFields; entries in `touched` get the time `now`."""
    previous = {
        (e.get("manager", ""), e.get("operation", "Update")): e
        for e in obj.get("metadata", {}).get("managedFields") or []
    }
    entries = []
    for (manager, operation), paths in owners.items():
        if not paths:
            continue
        old = previous.get((manager, operation))
        fields = _to_fields_v1(paths)
        changed = (manager, operation) in touched or old is None or old.get("fieldsV1") != fields
        entries.append(
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": api_version,
                "time": now if changed or old is None else old.get("time", now),
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }
        )
    obj.setdefault("metadata", {})["managedFields"] = entries


# --- the two kinds of write ---------------------------------------------------------


def _describe(live: dict[str, Any] | None, who: tuple[str, str]) -> str:
    """A manager as the real conflict message names it: `"shoal"` for an applier,
    `"kubectl-edit" using apps/v1 at 2026-01-01T00:00:00Z` for an updater."""
    manager, operation = who
    if operation != "Update":
        return f'"{manager}"'
    for entry in (live or {}).get("metadata", {}).get("managedFields") or []:
        if (entry.get("manager"), entry.get("operation")) == who:
            text = f'"{manager}" using {entry.get("apiVersion", "")}'
            return f"{text} at {entry['time']}" if entry.get("time") else text
    return f'"{manager}"'


def apply_configuration(
    live: dict[str, Any] | None, config: dict[str, Any], manager: str, force: bool
) -> tuple[dict[str, Any], Owners, list[tuple[str, str]]]:
    """Merge an apply configuration into the live object (or a new one).

    Returns the merged object, the new ownership and the conflicts found (the
    caller refuses the request when there are conflicts and `force` is false; with
    `force`, the conflicting fields were taken over).
    """
    merged = clone(live) if live is not None else {}
    owners = owners_of(live) if live is not None else {}
    me = (manager, "Apply")
    applied = leaves(config)
    live_leaves = leaves(live) if live is not None else {}

    conflicts: list[tuple[str, str]] = []
    for path, value in applied.items():
        found, current = lookup(live, path) if live is not None else (False, None)
        if found and current == value:
            continue
        for other, paths in owners.items():
            if other == me:
                continue
            clashing = [p for p in paths if _overlaps(p, path)]
            if clashing:
                conflicts.append((_describe(live, other), path_text(path)))
                if force:
                    paths.difference_update(clashing)
    if conflicts and not force:
        return merged, owners, conflicts

    # Fields this manager applied before and dropped now go, unless someone else owns them.
    for path in owners.get(me, set()) - set(applied):
        shared = any(
            any(_overlaps(p, path) for p in paths) for who, paths in owners.items() if who != me
        )
        if not shared and path in live_leaves:
            _remove(merged, path)
    _deep_merge(merged, config)
    # Fields applied with equal values stay shared with their other owners, as on the real server.
    owners[me] = set(applied)
    return merged, owners, conflicts


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str) -> Owners:
    """Ownership after a non-apply write by `manager`: it owns the fields it changed."""
    owners = owners_of(old) if old is not None else {}
    before = leaves(old) if old is not None else {}
    after = leaves(new)
    changed = {p for p, v in after.items() if before.get(p, _MISSING) != v}
    removed = set(before) - set(after)
    for paths in owners.values():
        paths.difference_update(
            {p for p in paths if any(_overlaps(p, c) for c in changed | removed)}
        )
    if changed:
        owners.setdefault((manager, "Update"), set()).update(changed)
    return owners


_MISSING = object()
