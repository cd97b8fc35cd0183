"""`python -m bench.render_fleet` keeps working (a tiny run; figures are not checked)."""

from __future__ import annotations

import pytest

from bench import render_fleet


def test_render_fleet_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--nodes", "60", "--apps", "3", "--sites", "3", "--naive-sample", "10"]
    args += ["--rerenders", "2", "--profile-rerender"]
    assert render_fleet.main(args) == 0
    out = capsys.readouterr().out
    assert "memoized render:" in out
    assert "extrapolated from 10 nodes" in out
    assert "digests equal to the memoized ones" in out
    assert "best of 2 commits in a row" in out and "cumulative" in out  # the profile
