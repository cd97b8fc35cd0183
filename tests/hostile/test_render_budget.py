"""The render budget: a template that loops without end, or builds too much, is one
problem naming the template, node and app — in `shoal validate` and the controller."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from controller.fleet.loading import load_fleet, load_usable
from controller.render.budget import RenderBudget, RenderCancelled, RenderLimits
from controller.render.rendering import render_fleet
from tests.support.render import FleetRepo

# Nested loops that print nothing: 10**10 turns, no output for the output cap to see.
SILENT_LOOPS = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '{{ node.name }}'}\n"


@pytest.fixture
def repo(tmp_path: Path) -> FleetRepo:
    repo = FleetRepo(tmp_path / "fleet")
    repo.fleet("test", render={"timeLimit": 0.5})
    for name in ("lyon-1", "lyon-2", "lyon-3"):
        repo.node(name, site="lyon")
    return repo


def test_silent_nested_loops_stop_at_the_time_limit_with_one_problem(repo: FleetRepo) -> None:
    repo.app("web", {"a.yaml.j2": "# x\n" + SILENT_LOOPS}, selector="site=lyon")
    started = time.monotonic()
    result = render_fleet(load_fleet(repo.root))
    # Three nodes would be three times the limit: the app is given up after the first.
    assert time.monotonic() - started < 30
    assert [(p.file, p.line, p.node, p.app) for p in result.problems] == [
        ("apps/web/templates/a.yaml.j2", 2, "lyon-1", "web")
    ]
    assert result.problems[0].message == (
        "took longer than the render time limit of 0.5 s (render.timeLimit in fleet.yaml): "
        "a loop too large?"
    )


def test_a_slow_app_does_not_hide_the_others(repo: FleetRepo) -> None:
    repo.app("slow", {"a.yaml.j2": SILENT_LOOPS}, selector="site=lyon")
    repo.app("fine", {"c.yaml.j2": CONFIGMAP}, selector="site=lyon")
    result = render_fleet(load_fleet(repo.root))
    assert [p.app for p in result.problems] == ["slow"]
    assert sorted(result.apps["lyon-2"]) == ["fine"]


def test_the_memory_limit_is_configurable(repo: FleetRepo) -> None:
    repo.fleet("test", render={"memoryLimit": 1})
    repo.app("web", {"a.yaml.j2": "a: {{ 'x' * 100000 }}\n"}, selector="site=lyon")
    [problem, *_] = render_fleet(load_fleet(repo.root)).problems
    assert problem.message.startswith("repeating a string or list of 100,000 characters")
    assert "render memory limit of 65,536 (1 MiB" in problem.message


def test_the_limits_are_schema_checked(repo: FleetRepo) -> None:
    repo.fleet("test", render={"timeLimit": -1, "memoryLimit": "lots"})
    messages = sorted(p.message for p in load_usable(repo.root).problems)
    assert len(messages) == 2, messages
    assert all(p.file == "fleet.yaml" for p in load_usable(repo.root).problems)


def test_a_render_is_cancelled_when_its_caller_no_longer_wants_it(repo: FleetRepo) -> None:
    repo.fleet("test", render={"timeLimit": 600})
    repo.app("web", {"a.yaml.j2": SILENT_LOOPS}, selector="site=lyon")
    fleet = load_fleet(repo.root)
    stop = threading.Event()
    budget = RenderBudget(RenderLimits(), cancelled=stop.is_set)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(RenderCancelled):
        render_fleet(fleet, budget=budget)
    assert time.monotonic() - started < 10
    assert budget.what == "app web for node lyon-1"
