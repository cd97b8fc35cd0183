"""Check a whole fleet repository, collecting every problem: what `shoal validate` runs.

`load_fleet` is all or nothing (the controller must never publish from a partially
valid repository), but a person fixing a pull request wants every mistake in one
run. So `check_repository` loads what can be loaded (`loading.load_usable`), then:
- when every node's variables are known (fleet.yaml and every group file valid), it
  renders every valid node with the valid groups and apps;
- otherwise it only compiles the templates: a group that did not load would show up
  as undefined variables on every node it matches, which is noise, not news.
Templates of apps whose app.yaml did not load are compiled too (syntax errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controller.fleet.loading import load_usable
from controller.fleet.model import App, Fleet
from controller.fleet.problems import Problem, sort_key
from controller.render.rendering import FleetRender, render_fleet
from controller.render.templating import compile_app


@dataclass
class RepositoryCheck:
    """Every problem of a repository, and the render of its valid parts."""

    fleet: Fleet  # the valid parts only
    problems: list[Problem]  # sorted by file and line
    render: FleetRender | None  # None: nodes not rendered (variables incomplete)


def check_repository(root: Path, workers: int = 1) -> RepositoryCheck:
    """`workers=2`: render a large fleet's nodes in two processes (`pool`)."""
    usable = load_usable(root)
    problems = list(usable.problems)
    render = None
    compile_only: list[App] = list(usable.unloaded_apps)
    if usable.variables_complete:
        render = render_fleet(usable.fleet, workers=workers)
        problems += render.problems
    else:
        compile_only += usable.fleet.apps.values()
    for app in compile_only:
        _, failures = compile_app(app)
        problems += (Problem(f.file, f.message, line=f.line, app=app.name) for f in failures)
    return RepositoryCheck(usable.fleet, sorted(problems, key=sort_key), render)
