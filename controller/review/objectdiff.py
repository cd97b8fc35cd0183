"""How one app's rendered objects differ between two renders, for `shoal diff`
(`controller.review.diffing`), in two forms:

- a unified diff for people: objects written as YAML with sorted keys, multi-line
  strings as `|` blocks (a config file diffs line by line), no line folding, under a
  header line with the app's version and namespace; hunk headers name the object
  that changes, like git's function context;
- a list of `FieldChange`s for grouping and programs: which field of which object
  went from what to what (`Deployment web`, `spec.replicas`, `1` -> `2`). Unlike the
  diff text it does not depend on context lines, so nodes that differ only around
  the change (their name two lines above) still count as changing the same way.

Both are computed once per distinct (base digest, head digest): memoized renders make
most pairs repeat across nodes.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from shadow import DesiredApp
from shadow.sealing import redact

# Long lines stay on one line: folding would turn a one-word change into a multi-line one.
_YAML_WIDTH = 1 << 16


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Safe YAML with multi-line strings as `|` blocks: a config file diffs line by line."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class _AppText:
    lines: list[str]
    objects: list[tuple[int, str]]  # (1-based line where an object starts, "Kind name")

    def object_at(self, line: int) -> str:
        """The object a line belongs to (for hunk headers, like git's function context)."""
        found = ""
        for start, label in self.objects:
            if start > line:
                break
            found = label
        return found


@dataclass(frozen=True)
class FieldChange:
    """One field of one object: `before`/`after` are canonical JSON, None when absent.

    `object` is "Kind name" ("" for the app's own version and namespace); `path` is
    where inside it (`spec.template.spec.containers[0].image`, "" for the whole object)."""

    object: str
    path: str
    before: str | None
    after: str | None

    def to_dict(self) -> dict[str, Any]:
        def value(text: str | None) -> Any:
            return None if text is None else json.loads(text)

        return {
            "object": self.object,
            "path": self.path,
            "before": value(self.before),
            "after": value(self.after),
        }


class AppDiffs:
    """YAML text and diffs of rendered apps, computed once per distinct digest.

    Many nodes share a render (memoization upstream), so many (base, head) pairs repeat."""

    def __init__(self, context: int) -> None:
        self.context = context
        self._texts: dict[str, _AppText] = {}
        self._diffs: dict[tuple[str, str | None, str | None], str] = {}
        self._changes: dict[tuple[str | None, str | None], tuple[FieldChange, ...]] = {}

    def changes(self, base: DesiredApp | None, head: DesiredApp | None) -> tuple[FieldChange, ...]:
        """The fields that differ, object by object (a whole object when added or removed)."""
        key = (base.digest if base else None, head.digest if head else None)
        cached = self._changes.get(key)
        if cached is None:
            cached = tuple(field_changes(base, head))
            self._changes[key] = cached
        return cached

    def text(self, app: DesiredApp) -> _AppText:
        text = self._texts.get(app.digest)
        if text is None:
            lines = [f"# version {app.version}, namespace {app.namespace}\n"]
            objects = []
            for resource in app.resources:
                objects.append((len(lines) + 1, _object_label(resource)))
                lines.extend(_dump(resource).splitlines(keepends=True))
            text = _AppText(lines, objects)
            self._texts[app.digest] = text
        return text

    def diff(self, name: str, base: DesiredApp | None, head: DesiredApp | None) -> str:
        key = (name, base.digest if base else None, head.digest if head else None)
        cached = self._diffs.get(key)
        if cached is None:
            old = self.text(base) if base else None
            new = self.text(head) if head else None
            lines = difflib.unified_diff(
                old.lines if old else [],
                new.lines if new else [],
                fromfile=f"a/{name}" if base else "/dev/null",
                tofile=f"b/{name}" if head else "/dev/null",
                n=self.context,
            )
            cached = _label_hunks(list(lines), old, new)
            self._diffs[key] = cached
        return cached


def _dump(resource: Mapping[str, object]) -> str:
    return yaml.dump(
        redact(resource),  # a sealed secret shows as <sealed NAME sha256:...>
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        explicit_start=True,
        width=_YAML_WIDTH,
    )


def _object_label(resource: Mapping[str, object]) -> str:
    metadata = resource.get("metadata")
    name = metadata.get("name", "") if isinstance(metadata, Mapping) else ""
    return f"{resource.get('kind', '?')} {name}"


def _label_hunks(lines: list[str], old: _AppText | None, new: _AppText | None) -> str:
    """`@@ -50,7 +50,7 @@` → `@@ -50,7 +50,7 @@ DaemonSet sensor-collector`: the object
    holding the hunk's first changed line, like git's function context."""
    out = []
    for index, line in enumerate(lines):
        match = _HUNK.match(line)
        if match is None:
            out.append(line)
            continue
        leading = 0
        for following in lines[index + 1 :]:
            if not following.startswith(" "):
                break
            leading += 1
        first = lines[index + 1 + leading] if index + 1 + leading < len(lines) else ""
        if first.startswith("-") and old is not None:
            label = old.object_at(int(match.group(1)) + leading)
        else:
            label = new.object_at(int(match.group(2)) + leading) if new is not None else ""
        out.append(f"{match.group(0)} {label}\n" if label else line)
    return "".join(out)


def field_changes(base: DesiredApp | None, head: DesiredApp | None) -> list[FieldChange]:
    out: list[FieldChange] = []
    for attribute in ("version", "namespace"):
        before = getattr(base, attribute) if base else None
        after = getattr(head, attribute) if head else None
        if before != after:
            out.append(FieldChange("", attribute, _json(before), _json(after)))
    old = {_identity(r): r for r in base.resources} if base else {}
    new = {_identity(r): r for r in head.resources} if head else {}
    for identity in sorted(set(old) | set(new)):
        label = f"{identity[0]} {identity[2]}"
        if identity not in old:
            out.append(FieldChange(label, "", None, _canonical(new[identity])))
        elif identity not in new:
            out.append(FieldChange(label, "", _canonical(old[identity]), None))
        else:
            _walk(label, "", old[identity], new[identity], out)
    if not out and base and head:  # same objects, same content: only their order moved
        out.append(FieldChange("", "order", _json(list(old)), _json(list(new))))
    return out


def _walk(label: str, path: str, old: Any, new: Any, out: list[FieldChange]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = _child(path, key)
            if key not in old:
                out.append(FieldChange(label, sub, None, _canonical(new[key])))
            elif key not in new:
                out.append(FieldChange(label, sub, _canonical(old[key]), None))
            else:
                _walk(label, sub, old[key], new[key], out)
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            sub = f"{path}[{index}]"
            if index >= len(old):
                out.append(FieldChange(label, sub, None, _canonical(new[index])))
            elif index >= len(new):
                out.append(FieldChange(label, sub, _canonical(old[index]), None))
            else:
                _walk(label, sub, old[index], new[index], out)
    else:
        out.append(FieldChange(label, path, _canonical(old), _canonical(new)))


def _child(path: str, key: object) -> str:
    text = str(key)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", text):
        return f"{path}.{text}" if path else text
    return f"{path}[{json.dumps(text)}]"  # `metadata.labels["app.kubernetes.io/name"]`


def _identity(resource: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = resource.get("metadata")
    meta = metadata if isinstance(metadata, Mapping) else {}
    return (
        str(resource.get("kind", "")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def _canonical(value: Any) -> str:
    value = redact(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _json(value: Any) -> str | None:
    value = redact(value)
    return None if value is None else _canonical(value)
