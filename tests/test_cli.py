"""The `shoal` entry point: help that teaches, exit codes scripts can use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shoal.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_no_command_prints_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "shoal demo" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_python_dash_m_shoal_runs_from_a_checkout() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "shoal", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("shoal ")


def test_repo_may_follow_the_options() -> None:
    from shoal.cli import build_parser, parse

    parser = build_parser()
    args = parse(parser, ["secret", "set", "db", "--selector", "site=paris", "fleet"])
    assert (args.name, args.selector, args.repo) == ("db", "site=paris", "fleet")
    args = parse(parser, ["secret", "set", "db", "--selector", "site=paris"])
    assert args.repo == "."


def test_a_second_repo_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from shoal.cli import build_parser, parse

    with pytest.raises(SystemExit) as exc:
        parse(build_parser(), ["secret", "rm", "db", "fleet", "--format", "x"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        parse(build_parser(), ["secret", "set", "db", ".", "--selector", "s", "other"])
    assert exc.value.code == 2
    assert "unrecognized arguments: other" in capsys.readouterr().err
