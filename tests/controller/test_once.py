"""`shoal controller --once` for cron jobs and CI: its exit status says what happened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.controller import FleetRepo
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def once(repo: Path, broker: str, work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "shoal",
            "controller",
            "--once",
            "--repo",
            str(repo),
            "--broker",
            broker,
            "--work-dir",
            str(work),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_once_publishes_then_reports_bad_commits_and_unreachable_parts(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, {"rome-1": {"site": "rome"}, "rome-2": {"site": "rome"}})
    work = tmp_path / "work"
    with Recorder(mosquitto.url, "shoal/nodes/+/desired") as recorder:
        result = once(repo.remote, mosquitto.url, work)
        assert result.returncode == 0, result.stderr
        assert "2 documents published and confirmed" in result.stdout
        wait_until(lambda: recorder.count() == 2)

        # Nothing changed: exit 0, nothing sent again.
        result = once(repo.remote, mosquitto.url, work)
        assert result.returncode == 0, result.stderr
        assert "0 documents published" in result.stdout

        unreachable_broker = once(repo.remote, f"mqtt://127.0.0.1:{free_port()}", tmp_path / "w2")
        assert unreachable_broker.returncode == 2
        assert "cannot reach the broker" in unreachable_broker.stderr
        assert "Traceback" not in unreachable_broker.stderr

        repo.write_yaml("nodes/rome-2.yaml", {"name": "rome-2", "tags": "not-a-mapping"})
        repo.commit_and_push("broken node")
        result = once(repo.remote, mosquitto.url, work)
        assert result.returncode == 1
        assert "nodes/rome-2.yaml" in result.stderr
        assert "Traceback" not in result.stderr
        assert recorder.count() == 2

    missing_repo = once(tmp_path / "no-such-repo", mosquitto.url, tmp_path / "w3")
    assert missing_repo.returncode == 2
    assert "no-such-repo: no such folder (expected a git repository)" in missing_repo.stderr
    assert "Traceback" not in missing_repo.stderr


def test_bad_options_are_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "shoal",
            "controller",
            "--once",
            "--repo",
            str(tmp_path),
            "--broker",
            "ftp://host",
            "--work-dir",
            str(tmp_path / "w"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "scheme must be mqtt:// or mqtts://" in result.stderr
    assert "Traceback" not in result.stderr


def test_once_without_a_broker_refuses_instead_of_publishing_into_thin_air(
    tmp_path: Path,
) -> None:
    repo = FleetRepo.create(tmp_path, {"rome-1": {"site": "rome"}})
    command = ["controller", "--once", "--repo", str(repo.remote)]
    result = subprocess.run(
        [sys.executable, "-m", "shoal", *command, "--work-dir", str(tmp_path / "work")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 2, result.stderr
    assert "--once needs --broker" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "work").exists()  # refused before touching anything
