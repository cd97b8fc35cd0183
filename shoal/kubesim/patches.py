"""PATCH bodies other than server-side apply: JSON merge patch and JSON patch.

`merge_patch` is RFC 7386 (a `null` removes a key, objects merge, everything else
replaces). `strategic_merge_patch` adds what Kubernetes' strategic merge does for
the lists people patch most: lists of objects with a merge key (`mergekeys`:
containers by name, ports by port, env by name, volumeMounts by mountPath...)
merge item by item, an item with `"$patch": "delete"` is removed, and `"$patch":
"replace"` replaces. It does not read the real per-field schema, so a list under
an unlisted field name is replaced whole. `json_patch` is RFC 6902 (add, remove,
replace, move, copy, test).
"""

from __future__ import annotations

from typing import Any

from shoal.kubesim.clone import clone
from shoal.kubesim.errors import ApiError, bad_request
from shoal.kubesim.mergekeys import MERGE_KEYS, PORT_KEYS


def merge_patch(target: Any, patch: Any) -> Any:
    """Return `target` with the RFC 7386 merge patch applied (inputs are not changed)."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Return `target` with a strategic merge patch applied (inputs are not changed)."""
    if not isinstance(patch, dict):
        return clone(patch)
    if patch.get("$patch") == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $retainKeys, $setElementOrder...: ordering and pruning hints
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return next(
            (k for k in PORT_KEYS if all(isinstance(i, dict) and k in i for i in items)), None
        )
    return MERGE_KEYS.get(field)


def _merge_list(field: str, live: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key(field, patch)
    if key is None or not all(isinstance(i, dict) for i in live + patch):
        return [i for i in clone(patch) if not (isinstance(i, dict) and "$patch" in i)]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [i for i in clone(patch) if "$patch" not in i]
    merged = clone(live)
    for item in patch:
        index = next((n for n, old in enumerate(merged) if old.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append(clone(item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise _unprocessable(f"path {path!r} does not exist") from None
    return node


def _unprocessable(message: str) -> ApiError:
    return ApiError(
        422, "Invalid", f"the server rejected our request due to an error in our request: {message}"
    )


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    try:
        return parent[int(parts[-1])] if isinstance(parent, list) else parent[parts[-1]]
    except (KeyError, IndexError, ValueError, TypeError):
        raise _unprocessable(f"path {path!r} does not exist") from None


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts, path)
    try:
        if isinstance(parent, list):
            return parent.pop(int(parts[-1]))
        return parent.pop(parts[-1])
    except (KeyError, IndexError, ValueError, TypeError):
        raise _unprocessable(f"unable to remove nonexistent key {path!r}") from None


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if index > len(parent) or (replace and index >= len(parent)):
            raise _unprocessable(f"index out of range in {path!r}")
        if replace:
            parent[index] = value
        else:
            parent.insert(index, value)
    elif isinstance(parent, dict):
        if replace and last not in parent:
            raise _unprocessable(f"replace operation does not apply: doc is missing key: {path}")
        parent[last] = value
    else:
        raise _unprocessable(f"path {path!r} does not exist")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """Return `target` with the RFC 6902 operations applied (inputs are not changed)."""
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be a list of operations")
    doc = clone(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid JSON patch operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, clone(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, clone(op.get("value")), replace=True)
        elif kind == "move":
            doc = _add(doc, path, _remove(doc, op["from"]))
        elif kind == "copy":
            doc = _add(doc, path, clone(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _unprocessable(f"testing value {path} failed")
        else:
            raise bad_request(f"unexpected JSON patch operation {kind!r}")
    return doc
