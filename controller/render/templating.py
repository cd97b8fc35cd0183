"""The sandboxed Jinja environment apps' templates render in, and its filters.

`rendering` compiles each app once with `compile_app` and calls
`CompiledApp.render(context)` per distinct context. Templates run in
`ImmutableSandboxedEnvironment` with `StrictUndefined`: no access to Python
internals, no mutation of the context, a missing variable is an error. Every failure
comes out as `TemplateFailure` naming the template file and line.

Filters come from `filters`; the function `file("files/x.conf")` reads a file inside
the app's folder only.

`CompiledApp.references` lists the context paths the templates read (`node.tags.site`,
`replicas`): rendering keys its memo on those values only, so nodes that differ in
anything else share one render.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from controller.fleet.model import TEMPLATE_SUFFIX, App
from controller.render.filters import FILTERS
from controller.render.undefined import MissingValue, TracedUndefined, describe_missing
from shadow.errors import BadInput

Reference = tuple[str, ...]


class TemplateFailure(BadInput):
    """A template could not be compiled or rendered; names the file and line."""

    def __init__(self, file: str, message: str, line: int | None = None) -> None:
        self.file = file
        self.message = message
        self.line = line
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


class TemplateFileError(BadInput):
    """`file(...)` was asked for something outside the app folder or missing."""


# --- the app folder -------------------------------------------------------------------


# An app folder's contents read at once: file -> bytes, subfolder (`files/`) -> None.
Snapshot = dict[str, bytes | None]


class AppFolder:
    """Reads files from one app's folder, refusing anything that would leave it.

    With a `snapshot` (`controller.render.rendercache`) the files come from it rather than
    the disk, so what a cached compiled app reads is what its cache key describes.
    """

    def __init__(self, app_dir: Path, rel: str, snapshot: Snapshot | None = None) -> None:
        self.dir = app_dir
        self.real = app_dir.resolve()
        self.rel = rel  # "apps/web"
        self.snapshot = snapshot
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
        if self.snapshot is not None:  # a snapshot has no symlinks: nothing to resolve
            return self.real / pure
        target = (self.dir / pure).resolve()
        if not target.is_relative_to(self.real):
            raise TemplateFileError(f"file({relative!r}): leads outside {self.rel}/ (symlink)")
        return target

    def read(self, relative: str) -> str:
        if relative not in self.cache:
            target = self.path(relative)
            try:
                if self.snapshot is not None:
                    self.cache[relative] = self.from_snapshot(self.snapshot, target)
                else:
                    self.cache[relative] = target.read_text("utf-8")
            except FileNotFoundError:
                raise TemplateFileError(
                    f"file({relative!r}): no such file {self.rel}/{relative}"
                ) from None
            except UnicodeDecodeError as exc:
                raise TemplateFileError(
                    f"file({relative!r}): not UTF-8 text (byte {exc.start}): file() reads text"
                    " files only; keep binary data base64-encoded in the file and use it as is"
                ) from exc
            except OSError as exc:
                raise TemplateFileError(f"file({relative!r}): cannot read: {exc}") from exc
        return self.cache[relative]

    def from_snapshot(self, snapshot: Snapshot, target: Path) -> str:
        """`target` as `read_text` would give it, with the same errors."""
        rel = target.relative_to(self.real).as_posix()
        if rel == "." or f"{rel}/" in snapshot:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
        data = snapshot.get(rel)
        if data is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(target))
        return decode_text(data)


def decode_text(data: bytes) -> str:
    """UTF-8 with universal newlines: what `Path.read_text("utf-8")` returns."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


# --- compiling and rendering ----------------------------------------------------------


MAX_REPEAT = 1_000_000  # characters or items `*` may produce
MAX_POWER_BITS = 10_000  # size of an integer `**` may produce
# What one template may output: far above any real manifest, far below what stalls a
# render or fills memory (a loop nested in a loop runs 10**10 times within the range limit).
MAX_OUTPUT = 4_000_000


class FleetSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus limits on the two operators that can exhaust memory
    in one expression (`'x' * 10**9`, `9 ** 9 ** 9`): a bad pull request must not stall
    `shoal validate` in CI or the controller."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _power_too_large(left, right):
            raise SecurityError(f"{left} ** {right} is too large")
        if operator == "*" and (_repeat_too_large(left, right) or _repeat_too_large(right, left)):
            raise SecurityError("repeating a string or list to over a million items")
        return super().call_binop(context, operator, left, right)


def _power_too_large(base: Any, exponent: Any) -> bool:
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0:
        return False
    return abs(base) > 1 and base.bit_length() * exponent > MAX_POWER_BITS


def _repeat_too_large(sequence: Any, count: Any) -> bool:
    if not (isinstance(sequence, str | list | tuple) and isinstance(count, int)):
        return False
    return len(sequence) * count > MAX_REPEAT


def make_environment(
    folder: AppFolder, sources: Mapping[str, str]
) -> ImmutableSandboxedEnvironment:
    """The sandbox for one app; `{% include %}` finds only the app's own templates.

    `sources` maps a name relative to `templates/` (`deployment.yaml.j2`,
    `partials/probe.j2`) to its text: nothing else can be loaded.
    """

    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        if name not in sources:
            return None
        return sources[name], f"{folder.rel}/templates/{name}", lambda: True

    env = FleetSandbox(
        undefined=TracedUndefined,
        loader=jinja2.FunctionLoader(load),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    env.filters.update(FILTERS)
    # Renders must be deterministic: equal inputs, equal digests, no needless republish.
    env.filters.pop("random", None)
    env.globals.pop("lipsum", None)
    env.globals["file"] = folder.read
    return env


@dataclass
class CompiledTemplate:
    """One rendered template and the context paths its output can depend on."""

    file: str  # repo-relative
    template: jinja2.Template
    references: tuple[Reference, ...]

    def render(self, context: Mapping[str, Any]) -> str | TemplateFailure:
        parts = []
        size = 0
        try:
            for part in self.template.generate(context):
                size += len(part)
                if size > MAX_OUTPUT:
                    return TemplateFailure(
                        self.file,
                        f"renders more than {MAX_OUTPUT:,} characters: a loop too large?",
                    )
                parts.append(part)
        except Exception as exc:  # anything a template raises is the template's problem
            return _failure(self.file, exc, context)
        return "".join(parts)


@dataclass
class CompiledApp:
    """One app's templates, compiled once, and the context paths they read."""

    app: App
    templates: list[CompiledTemplate]  # in render order
    references: tuple[Reference, ...]  # of all templates together
    names: frozenset[str] = field(init=False)  # top-level names read
    uses_node_identity: bool = field(init=False)  # reads the node beyond its tags
    node_tags: tuple[str, ...] | None = field(init=False)  # tag keys read; None: all tags

    def __post_init__(self) -> None:
        self.names = frozenset(ref[0] for ref in self.references)
        node_refs = [ref for ref in self.references if ref[0] == "node"]
        self.uses_node_identity = any(len(ref) == 1 or ref[1] != "tags" for ref in node_refs)
        keys = [ref[2] if len(ref) > 2 else None for ref in node_refs]
        # `node.tags.items()` reads every tag, like `node.tags` alone.
        whole = any(key is None or hasattr(dict, key) for key in keys)
        self.node_tags = None if whole else tuple(sorted({k for k in keys if k is not None}))

    def render(self, context: Mapping[str, Any]) -> list[tuple[str, str | TemplateFailure]]:
        """(file, text or the failure) for each template, in order."""
        return [(t.file, t.render(context)) for t in self.templates]


def compile_app(
    app: App, snapshot: Snapshot | None = None
) -> tuple[CompiledApp | None, list[TemplateFailure]]:
    """Compile the templates of `app`; failures are syntax errors, one per template.

    Every `*.j2` under `templates/` (any depth) can be included; those directly in
    `templates/` (`App.templates`) are rendered. With a `snapshot` of the app folder
    (which has no symlinks), templates and `file()` read it instead of the disk.
    """
    folder = AppFolder(app.dir, f"apps/{app.name}", snapshot)
    base = app.dir / "templates"
    sources: dict[str, str] = {}
    failures: list[TemplateFailure] = []
    if snapshot is not None:  # like rglob: folders named *.j2 too (they fail to read)
        inside = [rel[len("templates/") :] for rel in snapshot if rel.startswith("templates/")]
        paths = [base / n.rstrip("/") for n in inside if n.rstrip("/").endswith(TEMPLATE_SUFFIX)]
    else:
        paths = list(base.rglob(f"*{TEMPLATE_SUFFIX}"))
    for path in sorted(paths):
        name = path.relative_to(base).as_posix()
        try:
            target = folder.path(f"templates/{name}")  # refuses symlinks leading out
            if snapshot is not None:
                sources[name] = folder.from_snapshot(snapshot, target)
            else:
                sources[name] = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError, TemplateFileError) as exc:
            failures.append(
                TemplateFailure(f"{folder.rel}/templates/{name}", f"cannot read template: {exc}")
            )
    env = make_environment(folder, sources)
    parsed: dict[str, tuple[set[Reference], bool]] = {}
    for name, source in sources.items():
        rel = f"{folder.rel}/templates/{name}"
        try:
            tree = env.parse(source, name, rel)
            env.get_template(name)  # compiles (and caches): unknown filters fail here
        except jinja2.TemplateSyntaxError as exc:
            failures.append(
                TemplateFailure(rel, f"template syntax error: {exc.message}", exc.lineno)
            )
            continue
        includes = any(
            tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))
        )
        parsed[name] = (_references(tree), includes)
    if failures:
        return None, failures
    every = set().union(*(refs for refs, _ in parsed.values())) if parsed else set()
    compiled = []
    for rel in app.templates:
        name = PurePosixPath(rel).relative_to(f"apps/{app.name}/templates").as_posix()
        refs, includes = parsed[name]
        # A template that includes others may read whatever they read.
        chosen = every if includes else refs
        compiled.append(CompiledTemplate(rel, env.get_template(name), _simplify(chosen)))
    return CompiledApp(app, compiled, _simplify(every)), []


def _simplify(found: set[Reference]) -> tuple[Reference, ...]:
    """Sorted, without paths under a name that is read whole."""
    whole = {ref[0] for ref in found if len(ref) == 1}
    return tuple(sorted(ref for ref in found if len(ref) == 1 or ref[0] not in whole))


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
    return found


def _failure(
    file: str, exc: BaseException, context: Mapping[str, Any] | None = None
) -> TemplateFailure:
    """Turn an exception raised while rendering into a message a person can act on."""
    if isinstance(exc, TemplateFailure):
        return exc
    where_file, line = _template_frame(exc.__traceback__, file)
    if isinstance(exc, SecurityError):
        message = f"not allowed in the template sandbox: {exc}"
    elif isinstance(exc, MissingValue) and context is not None:
        message = describe_missing(exc, context)
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
