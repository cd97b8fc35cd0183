"""Compiling an app's templates once, and rendering them per distinct context.

`rendering` compiles each app once with `compile_app` and calls
`CompiledTemplate.render(context)` per distinct context (with the memo) inside a
`RenderBudget` it gives the app with `CompiledApp.use_budget`. The parts:
- `controller.render.appfolder`: the app's files, nothing outside its folder;
- `controller.render.sandbox`: the sandboxed Jinja environment and its limits;
- `controller.render.references`: the context paths each template reads, which key
  the render memo (nodes that differ in anything else share one render);
- `controller.render.tracebacks`: any failure as `TemplateFailure`, naming the
  template file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import jinja2
from jinja2 import nodes

from controller.fleet.model import TEMPLATE_SUFFIX, App
from controller.render.appfolder import AppFolder, Snapshot, TemplateFileError, decode_text
from controller.render.budget import RenderBudget
from controller.render.placeholders import prints_name_only
from controller.render.references import Reference, references, simplify
from controller.render.sandbox import FleetSandbox, make_environment
from controller.render.tracebacks import TemplateFailure, describe_failure

__all__ = [
    "AppFolder",
    "CompiledApp",
    "CompiledTemplate",
    "Reference",
    "Snapshot",
    "TemplateFailure",
    "compile_app",
    "decode_text",
]


@dataclass
class CompiledTemplate:
    """One rendered template and the context paths its output can depend on."""

    file: str  # repo-relative
    template: jinja2.Template
    references: tuple[Reference, ...]
    # Reads the node's name only as a whole `{{ node.name }}` (controller.render.placeholders).
    prints_name: bool = False

    def render(self, context: Mapping[str, Any]) -> str | TemplateFailure:
        """The template's text, or the failure; `RenderCancelled` goes up."""
        environment = self.template.environment
        assert isinstance(environment, FleetSandbox)
        most = environment.budget.limits.max_items
        parts = []
        size = 0
        try:
            for part in self.template.generate(context):
                size += len(part)
                if size > most:
                    return TemplateFailure(
                        self.file,
                        f"renders more than {most:,} characters (the render memory limit, "
                        "render.memoryLimit in fleet.yaml): a loop too large?",
                        over_budget=True,
                    )
                parts.append(part)
        except Exception as exc:  # anything a template raises is the template's problem
            return describe_failure(self.file, exc, context)
        return "".join(parts)


@dataclass
class CompiledApp:
    """One app's templates, compiled once, and the context paths they read."""

    app: App
    templates: list[CompiledTemplate]  # in render order
    references: tuple[Reference, ...]  # of all templates together
    names: frozenset[str] = field(init=False)  # top-level names read
    uses_node_identity: bool = field(init=False)  # reads the node beyond its tags
    prints_name_only: bool = field(init=False)
    node_tags: tuple[str, ...] | None = field(init=False)  # tag keys read; None: all tags

    def __post_init__(self) -> None:
        self.names = frozenset(ref[0] for ref in self.references)
        node_refs = [ref for ref in self.references if ref[0] == "node"]
        self.uses_node_identity = any(len(ref) == 1 or ref[1] != "tags" for ref in node_refs)
        # Of the node beyond its tags, only the name, printed whole: see `rendering.plan`.
        self.prints_name_only = self.uses_node_identity and all(
            t.prints_name
            or not any(r[0] == "node" and (len(r) == 1 or r[1] != "tags") for r in t.references)
            for t in self.templates
        )
        # The tags read (`node.name` reads none; `node` whole reads every one).
        tag_refs = [ref for ref in node_refs if len(ref) == 1 or ref[1] == "tags"]
        keys = [ref[2] if len(ref) > 2 else None for ref in tag_refs]
        # `node.tags.items()` reads every tag, like `node.tags` alone.
        whole = any(key is None or hasattr(dict, key) for key in keys)
        self.node_tags = None if whole else tuple(sorted({k for k in keys if k is not None}))

    def render(self, context: Mapping[str, Any]) -> list[tuple[str, str | TemplateFailure]]:
        """(file, text or the failure) for each template, in order."""
        return [(t.file, t.render(context)) for t in self.templates]

    def use_budget(self, budget: RenderBudget) -> None:
        """Watch this app's renders with `budget` (the environment is the app's own)."""
        if self.templates:
            environment = self.templates[0].template.environment
            assert isinstance(environment, FleetSandbox)
            environment.budget = budget


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
    parsed: dict[str, tuple[set[Reference], bool, bool]] = {}
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
        parsed[name] = (references(tree), includes, prints_name_only(tree))
    if failures:
        return None, failures
    every = set().union(*(refs for refs, _, _ in parsed.values())) if parsed else set()
    compiled = []
    for rel in app.templates:
        name = PurePosixPath(rel).relative_to(f"apps/{app.name}/templates").as_posix()
        refs, includes, prints_name = parsed[name]
        # A template that includes others may read whatever they read.
        chosen = every if includes else refs
        template = env.get_template(name)
        compiled.append(CompiledTemplate(rel, template, simplify(chosen), prints_name))
    return CompiledApp(app, compiled, simplify(every)), []
