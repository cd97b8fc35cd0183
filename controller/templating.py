"""The sandboxed Jinja environment apps' templates render in, and its filters.

`rendering` compiles each app once with `compile_app` and calls
`CompiledApp.render(context)` per distinct context. Templates run in
`ImmutableSandboxedEnvironment` with `StrictUndefined`: no access to Python
internals, no mutation of the context, a missing variable is an error. Every failure
comes out as `TemplateFailure` naming the template file and line.

Filters: `to_yaml`, `to_json`, `b64encode`, `b64decode`, `combine` (deep merge by
default), `hash` (sha256 hex by default); function `file("files/x.conf")` reads a
file inside the app's folder only.

`CompiledApp.references` lists the context paths the templates read (`node.tags.site`,
`replicas`): rendering keys its memo on those values only, so nodes that differ in
anything else share one render.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import jinja2
import yaml
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from controller.model import App

Reference = tuple[str, ...]


class TemplateFailure(Exception):
    """A template could not be compiled or rendered; names the file and line."""

    def __init__(self, file: str, message: str, line: int | None = None) -> None:
        self.file = file
        self.message = message
        self.line = line
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


class TemplateFileError(Exception):
    """`file(...)` was asked for something outside the app folder or missing."""


# --- filters ------------------------------------------------------------------------


def to_yaml(value: Any, indent: int = 2) -> str:
    text = yaml.dump(
        value,
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        indent=indent,
    )
    if text.endswith("\n...\n"):  # a plain scalar gets an explicit document end
        text = text[: -len("\n...\n")]
    return text.rstrip("\n")


def to_json(value: Any, indent: int | None = None, sort_keys: bool = False) -> str:
    return json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False)


def b64encode(value: Any, encoding: str = "utf-8") -> str:
    data = value if isinstance(value, bytes) else str(value).encode(encoding)
    return base64.b64encode(data).decode("ascii")


def b64decode(value: Any, encoding: str = "utf-8") -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode(encoding)
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"b64decode: not valid base64 text: {exc}") from exc


def combine(*dicts: Any, recursive: bool = True, list_merge: str = "replace") -> dict[str, Any]:
    """Merge dicts left to right; nested dicts merge too unless `recursive=false`.

    `list_merge`: replace (default), append or prepend — what happens to two lists
    under the same key.
    """
    if list_merge not in ("replace", "append", "prepend"):
        raise ValueError("combine: list_merge must be replace, append or prepend")
    result: dict[str, Any] = {}
    for item in dicts:
        if not isinstance(item, Mapping):
            raise ValueError(f"combine: expected dicts, got {type(item).__name__}")
        result = _merge(result, item, recursive, list_merge)
    return result


def _merge(
    low: Mapping[str, Any], high: Mapping[str, Any], recursive: bool, list_merge: str
) -> dict[str, Any]:
    merged = dict(low)
    for key, value in high.items():
        old = merged.get(key)
        if recursive and isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(old, value, recursive, list_merge)
        elif isinstance(old, list) and isinstance(value, list) and list_merge != "replace":
            merged[key] = old + value if list_merge == "append" else value + old
        else:
            merged[key] = value
    return merged


def hash_filter(value: Any, algorithm: str = "sha256") -> str:
    """Hex digest of a string (or of the canonical JSON of any other value)."""
    if algorithm not in hashlib.algorithms_guaranteed:
        known = ", ".join(sorted(hashlib.algorithms_guaranteed))
        raise ValueError(f"hash: unknown algorithm {algorithm!r} (known: {known})")
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.new(algorithm, data).hexdigest()


FILTERS: dict[str, Callable[..., Any]] = {
    "to_yaml": to_yaml,
    "to_json": to_json,
    "b64encode": b64encode,
    "b64decode": b64decode,
    "combine": combine,
    "hash": hash_filter,
}


# --- the app folder -------------------------------------------------------------------


class AppFolder:
    """Reads files from one app's folder, refusing anything that would leave it."""

    def __init__(self, app_dir: Path, rel: str) -> None:
        self.dir = app_dir
        self.real = app_dir.resolve()
        self.rel = rel  # "apps/web"
        self.cache: dict[str, str] = {}

    def path(self, relative: str) -> Path:
        if not isinstance(relative, str) or not relative:
            raise TemplateFileError("file() needs a path relative to the app folder")
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts or "\\" in relative:
            raise TemplateFileError(
                f"file({relative!r}): only files inside {self.rel}/ can be read "
                "(use a relative path without '..')"
            )
        target = (self.dir / pure).resolve()
        if not target.is_relative_to(self.real):
            raise TemplateFileError(f"file({relative!r}): leads outside {self.rel}/ (symlink)")
        return target

    def read(self, relative: str) -> str:
        if relative not in self.cache:
            target = self.path(relative)
            try:
                self.cache[relative] = target.read_text("utf-8")
            except FileNotFoundError:
                raise TemplateFileError(
                    f"file({relative!r}): no such file {self.rel}/{relative}"
                ) from None
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateFileError(f"file({relative!r}): cannot read: {exc}") from exc
        return self.cache[relative]


# --- compiling and rendering ----------------------------------------------------------


def make_environment(folder: AppFolder) -> ImmutableSandboxedEnvironment:
    """The sandbox for one app: its templates folder is the only place to include from."""

    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        try:
            target = folder.path(f"templates/{name}")
        except TemplateFileError:
            return None
        if not target.is_file():
            return None
        return target.read_text("utf-8"), f"{folder.rel}/templates/{name}", lambda: True

    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        loader=jinja2.FunctionLoader(load),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["file"] = folder.read
    return env


@dataclass
class CompiledApp:
    """One app's templates, compiled once, and the context paths they read."""

    app: App
    templates: list[tuple[str, jinja2.Template]]  # (repo-relative file, template)
    references: tuple[Reference, ...]

    @property
    def uses_node_identity(self) -> bool:
        """True when a template reads the node beyond its tags (e.g. `node.name`)."""
        return any(
            ref[0] == "node" and (len(ref) == 1 or ref[1] != "tags") for ref in self.references
        )

    def render(self, context: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(file, text) for each template; raises TemplateFailure."""
        out = []
        for file, template in self.templates:
            try:
                out.append((file, template.render(context)))
            except Exception as exc:
                raise _failure(file, exc) from exc
        return out


def compile_app(app: App, root: Path) -> tuple[CompiledApp | None, list[TemplateFailure]]:
    """Compile every template of `app`; failures are syntax errors, one per template."""
    folder = AppFolder(app.dir, f"apps/{app.name}")
    env = make_environment(folder)
    compiled: list[tuple[str, jinja2.Template]] = []
    references: set[Reference] = set()
    failures: list[TemplateFailure] = []
    for rel in app.templates:
        name = PurePosixPath(rel).name
        try:
            source = (root / rel).read_text("utf-8")
            tree = env.parse(source, name, rel)
            references |= _references(tree)
            compiled.append((rel, env.get_template(name)))
        except jinja2.TemplateSyntaxError as exc:
            failures.append(
                TemplateFailure(rel, f"template syntax error: {exc.message}", exc.lineno)
            )
        except (OSError, UnicodeDecodeError) as exc:
            failures.append(TemplateFailure(rel, f"cannot read template: {exc}"))
    if failures:
        return None, failures
    return CompiledApp(app, compiled, tuple(sorted(references))), []


def _references(tree: nodes.Template) -> set[Reference]:
    """Context paths read by a template: `("node", "tags", "site")`, `("replicas",)`.

    A name read in any other way than a chain of constant attributes or subscripts is
    recorded whole, so the set always covers everything the output can depend on.
    """
    names = meta.find_undeclared_variables(tree)
    found: set[Reference] = set()

    def visit(node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            chain: list[str] = []
            current: nodes.Node = node
            while True:
                if isinstance(current, nodes.Getattr):
                    chain.append(current.attr)
                    current = current.node
                elif (
                    isinstance(current, nodes.Getitem)
                    and isinstance(current.arg, nodes.Const)
                    and isinstance(current.arg.value, str)
                ):
                    chain.append(current.arg.value)
                    current = current.node
                else:
                    break
            if isinstance(current, nodes.Name) and current.ctx == "load" and current.name in names:
                found.add((current.name, *reversed(chain)))
                return
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in names:
            found.add((node.name,))
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    # A name read whole makes its longer paths redundant.
    whole = {ref[0] for ref in found if len(ref) == 1}
    return {ref for ref in found if len(ref) == 1 or ref[0] not in whole}


def _failure(file: str, exc: BaseException) -> TemplateFailure:
    """Turn an exception raised while rendering into a message a person can act on."""
    if isinstance(exc, TemplateFailure):
        return exc
    where_file, line = _template_frame(exc.__traceback__, file)
    if isinstance(exc, SecurityError):
        message = f"not allowed in the template sandbox: {exc}"
    elif isinstance(exc, jinja2.UndefinedError):
        text = str(exc)
        if text.endswith(" is undefined") and text.startswith("'"):
            message = f"undefined variable {text[: -len(' is undefined')]}"
        else:
            message = f"undefined: {text}"
    elif isinstance(exc, TemplateFileError | ValueError):
        message = str(exc)
    elif isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateFailure(
            exc.filename or where_file, f"template syntax error: {exc.message}", exc.lineno
        )
    elif isinstance(exc, jinja2.TemplateNotFound):
        message = f"template not found: {exc.name}"
    else:
        message = f"{type(exc).__name__}: {exc}"
    return TemplateFailure(where_file, message, line)


def _template_frame(tb: TracebackType | None, default: str) -> tuple[str, int | None]:
    """The innermost traceback frame inside a template (Jinja maps it to the template line)."""
    file, line = default, None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.startswith("apps/") and name.endswith(".j2"):
            file, line = name, tb.tb_lineno
        tb = tb.tb_next
    return file, line
