"""Unified diffs of rendered apps, for `shoal diff` (`controller.diffing`).

An app's objects are written as YAML with sorted keys, multi-line strings as `|`
blocks (a config file diffs line by line) and no line folding, under a header line
with the app's version and namespace. Hunk headers name the Kubernetes object that
changes, like git's function context. Texts and diffs are computed once per distinct
digest: memoized renders make most (base, head) pairs repeat across nodes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from shadow import DesiredApp

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


class AppDiffs:
    """YAML text and diffs of rendered apps, computed once per distinct digest.

    Many nodes share a render (memoization upstream), so many (base, head) pairs repeat."""

    def __init__(self, context: int) -> None:
        self.context = context
        self._texts: dict[str, _AppText] = {}
        self._diffs: dict[tuple[str, str | None, str | None], str] = {}

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
        resource,
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
