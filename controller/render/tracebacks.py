"""Turning what a template raised into one message naming its file and line.

`templating` calls `describe_failure` for any exception a template render raises;
Jinja maps its compiled code to template lines, so the innermost frame whose file
is a template gives the line. Messages say what to do: an undefined variable names
what the node lacks (`controller.render.undefined`), a sandbox refusal says so, a
crossed render budget says which limit and where it is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from controller.render.appfolder import TemplateFileError
from controller.render.budget import RenderOverBudget
from controller.render.undefined import MissingValue, describe_missing
from shadow.errors import BadInput


class TemplateFailure(BadInput):
    """A template could not be compiled or rendered; names the file and line."""

    def __init__(
        self, file: str, message: str, line: int | None = None, *, over_budget: bool = False
    ) -> None:
        self.file = file
        self.message = message
        self.line = line
        self.over_budget = over_budget  # crossed the render budget (never memoized)
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


def describe_failure(
    file: str, exc: BaseException, context: Mapping[str, Any] | None = None
) -> TemplateFailure:
    """Turn an exception raised while rendering into a message a person can act on."""
    if isinstance(exc, TemplateFailure):
        return exc
    where_file, line = template_frame(exc.__traceback__, file)
    if isinstance(exc, RenderOverBudget):
        message = str(exc)
    elif isinstance(exc, SecurityError):
        message = f"not allowed in the template sandbox: {exc}"
    elif isinstance(exc, MissingValue) and context is not None:
        message = describe_missing(exc, context)
    elif isinstance(exc, jinja2.UndefinedError):
        text = str(exc)
        if text.endswith(" is undefined") and text.startswith("'"):
            message = f"undefined variable {text[: -len(' is undefined')]}"
        else:
            message = f"undefined: {text}"
    elif isinstance(exc, TemplateFileError | ValueError | BadInput):  # shoal's own words
        message = str(exc)
    elif isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateFailure(
            exc.filename or where_file, f"template syntax error: {exc.message}", exc.lineno
        )
    elif isinstance(exc, jinja2.TemplateNotFound):
        message = f"template not found: {exc.name}"
    elif isinstance(exc, RecursionError):
        message = "recursion too deep (a macro calling itself without end?)"
    elif isinstance(exc, MemoryError):
        message = "ran out of memory (over the render memory limit?)"
    else:
        message = f"{type(exc).__name__}: {exc}"
    return TemplateFailure(where_file, message, line, over_budget=isinstance(exc, RenderOverBudget))


def template_frame(tb: TracebackType | None, default: str) -> tuple[str, int | None]:
    """The innermost traceback frame inside a template (Jinja maps it to the template line)."""
    file, line = default, None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.startswith("apps/") and name.endswith(".j2"):
            file, line = name, tb.tb_lineno
        tb = tb.tb_next
    return file, line
