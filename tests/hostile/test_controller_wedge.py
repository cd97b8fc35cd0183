"""A template that never ends cannot wedge the controller: /healthz says what it renders
and for how long, a newer commit supersedes it, and a stop stops it within seconds."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.controller import FleetRepo, running_controller, wait_for_revision
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
FOREVER = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"


def wedge(repo: FleetRepo) -> str:
    """A commit whose template would loop for hours (the time limit is raised)."""
    repo.write_yaml("fleet.yaml", {"name": "test-fleet", "render": {"timeLimit": 600}})
    repo.write("apps/web/templates/loop.yaml.j2", FOREVER)
    return repo.commit_and_push("a template that never ends")


def health(port: int) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return dict(json.load(reply))
    except urllib.error.HTTPError as exc:
        return dict(json.load(exc))
    except OSError:  # a loaded machine: the next poll asks again
        return {}


def test_a_newer_commit_supersedes_one_still_rendering(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, {"oslo-1": {"site": "oslo"}})
    port = free_port()
    with running_controller(
        repo.remote, mosquitto.url, tmp_path / "work", http=("127.0.0.1", port)
    ) as controller:
        wait_for_revision(controller, repo.head())
        stuck = wedge(repo)
        controller.trigger("test")

        def rendering_web() -> bool:
            rendering = health(port).get("rendering")
            return isinstance(rendering, dict) and rendering["now"] == "app web for node oslo-1"

        wait_until(rendering_web, 20, message="not rendering the app")
        rendering = health(port)["rendering"]
        assert isinstance(rendering, dict) and rendering["revision"] == stuck
        repo.remove("apps/web/templates/loop.yaml.j2")
        fixed = repo.commit_and_push("drop the loop")
        controller.trigger("webhook")
        wait_for_revision(controller, fixed, timeout=30)
        assert health(port)["rendering"] is None


def test_sigterm_stops_a_controller_that_is_rendering_within_5_s(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    repo = FleetRepo.create(tmp_path, {"oslo-1": {"site": "oslo"}})
    wedge(repo)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "shoal", "controller", "--repo", str(repo.remote)),
            *("--broker", mosquitto.url, "--no-status", "--work-dir", str(tmp_path / "work")),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)  # started and deep in the loop (no output to wait for)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert took < 5 + 1, f"took {took:.1f} s to stop"  # +1: the main loop polls every second
    assert "Traceback" not in err
