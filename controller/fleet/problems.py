"""Problems found in a fleet repository, and the exception that carries them.

Loading, validation and rendering never stop at the first mistake: they collect a
`Problem` for each one (file, path inside it, line, node, app) so that `shoal
validate` can list every error of a repository in one run. `FleetError` carries the
whole list to callers (the CLI, the controller) that must refuse a bad revision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shadow.errors import BadInput


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a fleet repository, located as precisely as known."""

    file: str  # repo-relative path, e.g. "nodes/paris-gw-01.yaml"
    message: str
    where: str = ""  # path inside the document, e.g. "vars.replicas" or "tags"
    line: int | None = None
    node: str | None = None
    app: str | None = None

    def location(self) -> str:
        """`file:line` (or just `file` when no line is known)."""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def context(self) -> str:
        """`node x, app y` — whichever of the two is known."""
        parts = []
        if self.node is not None:
            parts.append(f"node {self.node}")
        if self.app is not None:
            parts.append(f"app {self.app}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "where": self.where,
            "message": self.message,
            "node": self.node,
            "app": self.app,
        }

    def __str__(self) -> str:
        text = self.location() + ": "
        if self.where:
            text += self.where + ": "
        text += self.message
        context = self.context()
        return f"{text} ({context})" if context else text


def sort_key(problem: Problem) -> tuple[str, int, str, str, str]:
    """Order problems as a person reads them: by file, then line."""
    return (
        problem.file,
        problem.line or 0,
        problem.node or "",
        problem.app or "",
        problem.message,
    )


class FleetError(BadInput):
    """A fleet repository cannot be used as it is; `problems` says everything wrong."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems, key=sort_key)
        super().__init__("\n".join(str(p) for p in self.problems))
