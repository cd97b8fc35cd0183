"""The Kubernetes API schema check of rendered objects, and the notes it leaves: `SchemaChecks`.

`rendering`'s renderer keeps one per fleet render: `parse` parses a template's text
into objects (`manifests.parse_objects`), once per distinct text with the app's memo,
and `checked` holds each against the schema of its kind (`kubeschema`), so that the
first object that does not fit is one problem naming the file, the field and the
Kubernetes version. A kind the schemas do not know (a custom resource) is one note,
once per kind, in `notes`.
"""

from __future__ import annotations

from typing import Any

from controller.fleet.model import App
from controller.fleet.problems import Problem
from controller.render.kubeschema import KubernetesSchemas
from controller.render.manifests import parse_objects
from controller.render.rendercache import AppMemo


class SchemaChecks:
    """The schema checks of one fleet render."""

    def __init__(self, schemas: KubernetesSchemas) -> None:
        self.schemas = schemas
        self.kinds_seen: set[tuple[str, str]] = set()
        self.notes: dict[tuple[str, str], str] = {}  # kind -> what is not checked

    def parse(
        self, memo: AppMemo, app: App, file: str, text: str, memoize: bool = True
    ) -> list[dict[str, Any]] | Problem:
        """`text` parsed (`manifests.parse_objects`) and checked; with `memoize`, once per text."""
        if not memoize:
            return self.checked(app, file, parse_objects(app, file, text))
        # The schema version is in the key: `kubernetesVersion` may change.
        key = (file, self.schemas.version, text)
        parsed: list[dict[str, Any]] | Problem | None = memo.parsed.get(key)
        if parsed is None:
            parsed = memo.parsed[key] = self.checked(app, file, parse_objects(app, file, text))
        elif not isinstance(parsed, Problem):
            self.note_kinds(app, file, parsed)
        return parsed

    def checked(
        self, app: App, file: str, parsed: list[dict[str, Any]] | Problem
    ) -> list[dict[str, Any]] | Problem:
        """`parsed`, or the first object's problem against the Kubernetes API schema."""
        if isinstance(parsed, Problem):
            return parsed
        for obj in parsed:
            check = self.schemas.check(obj)
            if check.problem is not None:
                where, message = check.problem
                name = obj["metadata"]["name"]
                return Problem(
                    file,
                    f"{obj['kind']} {name}: {message} "
                    f"(the Kubernetes {self.schemas.version} API schema)",
                    where=where,
                    app=app.name,
                )
        self.note_kinds(app, file, parsed)
        return parsed

    def note_kinds(self, app: App, file: str, parsed: list[dict[str, Any]]) -> None:
        """A note, once per kind, for objects the schemas do not know (custom resources)."""
        for obj in parsed:
            kind = (str(obj["apiVersion"]), str(obj["kind"]))
            if kind in self.kinds_seen:
                continue
            self.kinds_seen.add(kind)
            if not self.schemas.knows(*kind):
                self.notes[kind] = f"{file}: {self.schemas.check(obj).note}"
