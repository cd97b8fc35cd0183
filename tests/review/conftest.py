"""Fixtures for the review commands (`shoal init`, `shoal diff`): a fleet repository made
by `shoal init` from the template, and ways to run `shoal` on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from shoal.cli import main

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str


Shoal = Callable[..., Result]  # the `shoal` fixture: run a command in-process


def run_shoal(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """`python -m shoal ...` as a user runs it, from the project root."""
    done = subprocess.run(
        [sys.executable, "-m", "shoal", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


class FleetRepo:
    """A fleet repository made by `shoal init`, with helpers to edit and commit it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, relative: str) -> dict:
        return yaml.safe_load((self.path / relative).read_text())

    def write(self, relative: str, data: dict | str) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        target.write_text(text)

    def commit(self, message: str) -> str:
        git(self.path, "add", "--all")
        git(self.path, "commit", "--quiet", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def nodes_where(self, **tags: str) -> set[str]:
        """Names of the nodes whose files carry all these tags."""
        names = set()
        for file in (self.path / "nodes").glob("*.yaml"):
            node = yaml.safe_load(file.read_text())
            if all(node.get("tags", {}).get(k) == v for k, v in tags.items()):
                names.add(node["name"])
        return names

    def all_nodes(self) -> set[str]:
        return self.nodes_where()


@pytest.fixture
def fleet(tmp_path: Path) -> FleetRepo:
    """A fresh fleet repository from `shoal init` (in-process, for speed)."""
    path = tmp_path / "fleet"
    assert main(["init", str(path)]) == 0
    return FleetRepo(path)


@pytest.fixture
def shoal(capsys: pytest.CaptureFixture[str]) -> Shoal:
    """Run a `shoal` command in-process and capture what it prints."""

    def call(*args: str | Path) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


def fresh_machine_env(home: Path) -> dict[str, str]:
    """An environment where git knows no user: no global or system config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(home / "none"), GIT_CONFIG_NOSYSTEM="1")
    env.pop("EMAIL", None)
    return env


def set_group_var(fleet: FleetRepo, group_file: str, name: str, value: object) -> None:
    group = fleet.read(group_file)
    group["vars"][name] = value
    fleet.write(group_file, group)


def affected(result: Result) -> set[str]:
    """The nodes a `shoal diff --format json` result says change."""
    return {n["node"] for n in json.loads(result.out)["nodes"]}
