"""One family of errors, typed by what happens next, and the exit codes a script sees.

Every exception class shoal defines is bad input (exit 1: a person fixes a file) or
unavailable (exit 2: retry later), or is on the short list below with its reason;
anything else reaching `shoal` is a bug: exit 70, one line saying so, and the
traceback only with --debug.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import shadow.errors
from controller.commands import validate
from shadow.errors import BadInput, ExitCode, ShoalError, Unavailable, UsageError
from shoal.cli import BUG_HINT, main
from tests.support.controller import FleetRepo
from tests.support.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shadow", "transport", "controller", "edge", "schemas", "shoal")

# Exception classes outside the family, each with why: none of them ever reaches a user.
OUTSIDE_THE_FAMILY = {
    "controller.fleet.yamlreader._Unusual": "control flow inside the YAML reader",
    "controller.fleet.yamlreader._TooDeep": "control flow inside the YAML reader (a depth limit)",
    "controller.render.placeholders._NotEqual": "control flow inside the placeholder "
    "substitution (the node's own text is parsed instead)",
    "controller.render.budget.RenderCancelled": "a newer commit or a stop cancels a render: "
    "a BaseException so no template's error handling can swallow it, never shown",
    "shoal.demo.supervisor.Interrupted": "a requested stop: the demo exits 0",
    "shoal.kubesim.errors.ApiError": "the simulated API server's HTTP answers to clients",
    "controller.status.yamlread.NotOurs": "control flow inside the status files' fast "
    "reader: PyYAML reads such a file instead",
    "edge.runtime.inflight._NotStarted": "control flow inside the edge's concurrent applies: "
    "a request skipped after an earlier one raised, whose exception is the one raised",
}


def shoal_exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in shoal's packages, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        modules = [root]
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if not info.name.endswith("__main__"):
                modules.append(importlib.import_module(info.name))
        for module in modules:
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                ):
                    found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_class_is_bad_input_or_unavailable() -> None:
    classes = shoal_exception_classes()
    stray = {
        name
        for name, cls in classes.items()
        if not issubclass(cls, (BadInput, Unavailable)) and name not in OUTSIDE_THE_FAMILY
    }
    stray -= {"shadow.errors.ShoalError"}  # the root: every branch is below it
    assert not stray, f"give these a branch of shadow.errors (or a reason below): {stray}"
    # The list of exceptions stays short and true.
    for name in OUTSIDE_THE_FAMILY:
        assert name in classes, f"{name} is gone: drop it from the list"
        assert not issubclass(classes[name], ShoalError), f"{name} is in the family now"


def test_the_tree_is_the_one_the_docstring_draws() -> None:
    assert issubclass(BadInput, ShoalError) and issubclass(Unavailable, ShoalError)
    assert issubclass(UsageError, BadInput)
    from controller.gitcli import GitFailed
    from controller.status.branch import PushRejected
    from transport import BrokerUnavailable

    assert issubclass(GitFailed, Unavailable) and issubclass(PushRejected, GitFailed)
    assert issubclass(BrokerUnavailable, Unavailable)
    doc = shadow.errors.__doc__ or ""
    for name in ("ShoalError", "BadInput", "UsageError", "Unavailable", "GitFailed"):
        assert name in doc
    assert "BrokerUnavailable" in doc and "exit 70" in doc
    codes = {code.name: int(code) for code in ExitCode}
    assert codes == {
        "OK": 0,
        "BAD_INPUT": 1,
        "UNAVAILABLE": 2,
        "BUG": 70,
        "RESTART": 75,
        "INTERRUPTED": 130,
    }
    assert ExitCode.USAGE == 2


def test_an_unexpected_error_is_a_bug_one_line_and_exit_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(path: Path, workers: int = 1) -> None:
        raise KeyError("apps")  # what a bug in shoal looks like from outside

    monkeypatch.setattr(validate, "check_repository", broken)
    assert main(["validate", str(tmp_path)]) == ExitCode.BUG == 70
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: KeyError: 'apps' ({BUG_HINT})"]
    assert "Traceback" not in err

    assert main(["validate", str(tmp_path), "--debug"]) == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert 'raise KeyError("apps")' in err
    assert err.rstrip().splitlines()[-1] == f"error: KeyError: 'apps' ({BUG_HINT})"


def shoal(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoal", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_git_failure_exits_2_with_gits_own_message(tmp_path: Path) -> None:
    repo = FleetRepo.create(tmp_path, {"rome-1": {"site": "rome"}})

    result = shoal("status", repo.work, "--fetch", "--remote", "no-such-remote")

    assert result.returncode == ExitCode.UNAVAILABLE == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: git fetch failed in {repo.work}: fatal: 'no-such-remote' does not appear "
        "to be a git repository; fatal: Could not read from remote repository. Please make "
        "sure you have the correct access rights and the repository exists."
    ]

    with_debug = shoal("status", repo.work, "--fetch", "--remote", "no-such-remote", "--debug")
    assert with_debug.returncode == 2
    assert "Traceback" in with_debug.stderr and "GitFailed" in with_debug.stderr


def test_an_unreachable_broker_exits_2_with_the_brokers_reason(tmp_path: Path) -> None:
    repo = FleetRepo.create(tmp_path, {"rome-1": {"site": "rome"}})
    broker = f"mqtt://127.0.0.1:{free_port()}"

    result = shoal(
        *("controller", "--once", "--repo", repo.remote, "--broker", broker),
        *("--work-dir", tmp_path / "work"),
    )

    assert result.returncode == ExitCode.UNAVAILABLE == 2, result.stderr
    assert f"cannot reach the broker at {broker}: [Errno 111] Connection refused" in result.stderr
    assert "Traceback" not in result.stderr
