"""Fixtures for the status tests: a bare git remote and a running StatusWriter."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.status import StatusWriter
from tests.support.mosquitto import Mosquitto
from transport import BrokerOptions


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """An empty bare repository standing for the fleet repository's remote."""
    path = tmp_path / "fleet.git"
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


@pytest.fixture
def make_writer(
    mosquitto: Mosquitto, remote: Path, tmp_path: Path
) -> Iterator[Callable[..., StatusWriter]]:
    """Start StatusWriters on the test broker and remote; every one is stopped at the end."""
    writers: list[StatusWriter] = []

    def make(interval: float = 0.2, work: str = "work", **kwargs: object) -> StatusWriter:
        writer = StatusWriter(
            BrokerOptions.from_url(mosquitto.url),
            str(remote),
            tmp_path / work,
            interval=interval,
            **kwargs,  # type: ignore[arg-type]
        )
        writer.start()
        writers.append(writer)
        assert writer.wait_subscribed(10)
        return writer

    try:
        yield make
    finally:
        for writer in writers:
            writer.stop()
