"""A large render split over a forked worker gives what one process gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.fleet.loading import load_fleet
from controller.render import pool
from controller.render.rendering import render_fleet
from tests.rendering.test_memo_equivalence import assert_same, build_named


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "worth_splitting", lambda nodes, memoize, workers: workers > 1)


@pytest.mark.usefixtures("split")
def test_a_split_render_equals_one_process(tmp_path: Path) -> None:
    build_named(tmp_path / "fleet", 3)
    fleet = load_fleet(tmp_path / "fleet")
    split = render_fleet(fleet, workers=2)
    assert_same(split, render_fleet(fleet, memoize=False))
    assert list(split.apps) == sorted(fleet.nodes)  # in node order, as one process


@pytest.mark.usefixtures("split")
def test_a_worker_that_dies_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool, "_work", lambda render, names, sender: os._exit(3))
    build_named(tmp_path / "fleet", 4)
    fleet = load_fleet(tmp_path / "fleet")
    assert_same(render_fleet(fleet, workers=2), render_fleet(fleet, memoize=False))


def test_an_app_over_budget_in_the_first_half_is_left_out_of_the_second() -> None:
    first = pool.RenderPart({"a": {}}, ["over"], over_budget={"web"})  # type: ignore[list-item]
    second = pool.RenderPart({"b": {"web": "x", "db": "y"}}, [], over_budget=set())  # type: ignore[dict-item]
    joined = pool.join(first, second)
    assert joined.apps == {"a": {}, "b": {"db": "y"}}
