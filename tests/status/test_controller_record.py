"""controller.yaml: a real controller (in-process) on real git and Mosquitto records what
it serves and what it rejected, `shoal status` shows it first, and `shoal wait` exits on it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.service.controller import Controller, ControllerSettings
from controller.status.service import StatusService
from shadow import Topics, node_digest
from shoal.cli import main
from tests.support.controller import TEMPLATE, FleetRepo
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import publish
from tests.support.reports import report
from tests.support.waiting import wait_until
from transport import BrokerOptions

BRANCH = "shoal-status"
BROKEN = "apps/web/templates/config.yaml.j2"


@contextmanager
def controller_with_status(repo: FleetRepo, broker_url: str, work: Path) -> Iterator[Any]:
    controller = Controller(
        ControllerSettings(
            repo=str(repo.remote),
            work_dir=work,
            broker=BrokerOptions.from_url(broker_url),
            interval=3600.0,
            watch_local=False,
        )
    )
    controller.add(StatusService(controller, str(repo.remote), work, interval=0.2))
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def on_branch(remote: Path) -> dict[str, Any] | None:
    try:
        text = subprocess.run(
            ["git", "show", f"{BRANCH}:controller.yaml"],
            cwd=remote,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except subprocess.CalledProcessError:
        return None
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def subject(remote: Path) -> str:
    return subprocess.run(
        ["git", "log", "-1", "--format=%s", BRANCH], cwd=remote, capture_output=True, text=True
    ).stdout.strip()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out + err


def served(remote: Path, sha: str) -> dict[str, Any] | None:
    record = on_branch(remote)
    if record and (record.get("served") or {}).get("revision") == sha:
        return record
    return None


def test_a_rejected_commit_is_recorded_shown_with_its_reason_and_fails_shoal_wait(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = FleetRepo.create(tmp_path, {"paris-1": {"site": "paris"}, "paris-2": {"site": "paris"}})
    good = repo.head()
    with controller_with_status(repo, mosquitto.url, tmp_path / "work") as controller:
        record = wait_until(lambda: served(repo.remote, good), 30, interval=0.2)
        assert record["seen"]["revision"] == good and "rejected" not in record
        assert subject(repo.remote) == f"serving {good[:7]} (HEAD)"

        # paris-1 runs the good revision; paris-2 never reports.
        digest = node_digest(controller.reconciler.served.apps["paris-1"])
        publish(
            mosquitto.url,
            Topics("shoal").reported("paris-1"),
            report("paris-1", revision=good, digest=digest).to_json(),
        )
        repo.write(BROKEN, "replicas: {{ web_replica }}\n")
        bad = repo.commit_and_push("typo in the web template")
        controller.trigger("test")
        record = wait_until(
            lambda: (on_branch(repo.remote) or {}).get("rejected"), 30, interval=0.2
        )
        assert record["revision"] == bad
        assert any(f"{BROKEN}:1: undefined variable 'web_replica'" in p for p in record["problems"])
        line = subject(repo.remote)
        assert line.startswith(f"HEAD {bad[:7]} rejected: {BROKEN}:1: undefined variable")
        assert line.endswith(f"- nodes stay on {good[:7]}")
        assert on_branch(repo.remote)["served"]["revision"] == good  # type: ignore[index]

        code, out = cli(capsys, "status", str(repo.work), "--fetch")
        assert code == 0
        first = out.splitlines()[0]
        assert first.startswith(f"HEAD {bad[:7]} rejected: {BROKEN}:1: undefined variable")
        assert "paris-1" in out and "paris-2" in out and "NoReport" in out

        code, out = cli(capsys, "wait", str(repo.work), "--revision", bad[:7], "--timeout", "60")
        assert code == 1
        assert f"{bad[:7]} is rejected by the controller: {BROKEN}:1" in out

        # A commit whose fleet does not load at all: the nodes are still all listed.
        repo.write("nodes/paris-2.yaml", "name: paris-2\ntags: [unclosed\n")
        unloadable = repo.commit_and_push("broken node file")
        controller.trigger("test")
        wait_until(
            lambda: (
                ((on_branch(repo.remote) or {}).get("rejected") or {}).get("revision") == unloadable
            ),
            30,
            interval=0.2,
        )
        code, out = cli(capsys, "status", str(repo.work), "--fetch", "--format", "json")
        assert code == 0
        document = yaml.safe_load(out)
        assert document["controller"]["rejected"]["revision"] == unloadable
        assert document["comparedWith"]["revision"] == good
        assert {row["node"] for row in document["nodes"]} == {"paris-1", "paris-2"}
        code, out = cli(capsys, "status", str(repo.work))
        assert f"nodes are compared with {good[:7]}, the revision the controller serves" in out

        # Fixed: served again, no rejection left.
        repo.write("nodes/paris-2.yaml", "name: paris-2\ntags: {site: paris}\n")
        repo.write(BROKEN, TEMPLATE)
        fixed = repo.commit_and_push("fix the template and the node")
        controller.trigger("test")
        record = wait_until(lambda: served(repo.remote, fixed), 30, interval=0.2)
        assert "rejected" not in record
        assert subject(repo.remote) == f"serving {fixed[:7]} (HEAD)"

        # paris-1's render is the same as at the good revision: it counts; paris-2 is awaited.
        wait = ("wait", str(repo.work), "--revision", fixed[:7], "--interval", "0.2")
        code, out = cli(capsys, *wait, "--timeout", "1")
        assert code == 2 and "waiting for paris-2 (no report)" in out
        digest = node_digest(controller.reconciler.served.apps["paris-2"])
        publish(
            mosquitto.url,
            Topics("shoal").reported("paris-2"),
            report("paris-2", revision=fixed, digest=digest).to_json(),
        )
        code, out = cli(capsys, *wait, "--timeout", "60")
        assert code == 0, out
        assert f"{fixed[:7]}: every node is Synced at it" in out


def test_a_rejected_first_revision_is_on_the_branch_before_anything_is_served(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = FleetRepo.create(tmp_path, {"lyon-1": {"site": "lyon"}})
    repo.write(BROKEN, "replicas: {{ web_replica }}\n")
    bad = repo.commit_and_push("broken from the start")
    with controller_with_status(repo, mosquitto.url, tmp_path / "work") as controller:
        record = wait_until(lambda: on_branch(repo.remote), 30, interval=0.2)
        assert record["rejected"]["revision"] == bad and "served" not in record
        assert subject(repo.remote).endswith(
            "- nodes keep what the broker holds (no good revision yet)"
        )
        code, out = cli(capsys, "status", str(repo.work), "--fetch")
        assert code == 0 and out.startswith(f"HEAD {bad[:7]} rejected: {BROKEN}:1")

        repo.write(BROKEN, TEMPLATE)
        fixed = repo.commit_and_push("fixed")
        controller.trigger("test")
        wait_until(lambda: served(repo.remote, fixed), 30, interval=0.2)
