"""Is a kubeconfig file a kubeconfig? Checked before the Kubernetes client reads it.

`kubernetes.check_config` (run by `shoal edge` at start) calls `kubeconfig_problem`
for each file `--kubeconfig` or `$KUBECONFIG` lists. The client's own loader crashes
with a `TypeError` on a YAML list or `clusters: 5`, reads any size, and composes any
nesting (libyaml's composer recurses: deep nesting crashes the process). Here a file
is refused, with one message naming it, when it is over `MAX_BYTES`, not UTF-8, not
YAML, nested deeper than `MAX_DEPTH`, uses aliases (a kubeconfig has none, and
aliases of aliases multiply), or is not a mapping whose `clusters`, `contexts` and
`users` are lists of mappings.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LISTS = ("clusters", "contexts", "users")


def kubeconfig_problem(path: str) -> str:
    """Why the file at `path` is not a usable kubeconfig ("" when it looks like one)."""
    where = f"kubeconfig {path}"
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            return (
                f"{where}: {size:,} bytes, over the size limit of {MAX_BYTES:,}: not a kubeconfig"
            )
        with open(path, "rb") as file:
            text = file.read(MAX_BYTES + 1).decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{where}: not UTF-8 text (byte {exc.start}): not a kubeconfig"
    except OSError as exc:
        return f"{where}: cannot read: {exc.strerror}"
    problem = _structure_problem(text)
    if problem:
        return f"{where}: {problem}"
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return ""  # the caller words YAML syntax errors (with the line)
    if data is None:
        return f"{where}: the file is empty: not a kubeconfig"
    if not isinstance(data, dict):
        return f"{where}: a YAML {type(data).__name__}, not a kubeconfig (a mapping with clusters, contexts, users)"
    for key in _LISTS:
        value = data.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, dict) for v in value)
        ):
            return f"{where}: {key} must be a list of mappings: not a kubeconfig"
    if not any(key in data for key in (*_LISTS, "current-context", "apiVersion")):
        return f"{where}: no clusters, contexts or users: not a kubeconfig"
    return ""


def _structure_problem(text: str) -> str:
    """Aliases or deep nesting, found from the event stream (which does not recurse)."""
    depth = 0
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else "?"
                return f"line {line}: a YAML alias; a kubeconfig has none"
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return f"nested more than {MAX_DEPTH} levels deep: not a kubeconfig"
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return ""  # a syntax error: worded by the caller
    finally:
        loader.dispose()
    return ""
