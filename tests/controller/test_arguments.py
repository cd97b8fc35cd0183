"""`shoal controller`'s command line: intervals must be positive, said clearly."""

from __future__ import annotations

import argparse

import pytest

from controller.commands import run


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="shoal")
    run.add_parser(parser.add_subparsers())
    return parser.parse_args(["controller", "--repo", "r", *argv])


@pytest.mark.parametrize("option", ["--interval", "--status-interval"])
@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon"])
def test_intervals_must_be_positive(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        parse(f"{option}={value}")
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and value in err


def test_positive_intervals_are_taken() -> None:
    args = parse("--interval", "0.5", "--status-interval", "2")
    assert (args.interval, args.status_interval) == (0.5, 2.0)
