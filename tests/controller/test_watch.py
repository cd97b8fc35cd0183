"""A local repository path is watched: a `git commit` (no push) is published at once."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.controller import (
    FleetRepo,
    desired,
    git,
    running_controller,
    wait_for_revision,
)
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until


def test_local_commit_is_published_without_polling(tmp_path: Path, mosquitto: Mosquitto) -> None:
    repo = FleetRepo.create(tmp_path, {"oslo-1": {"site": "oslo"}})
    topic = "shoal/nodes/oslo-1/desired"
    with (
        Recorder(mosquitto.url, topic) as recorder,
        # Poll once an hour: only the ref watcher can notice the commit.
        running_controller(
            repo.work, mosquitto.url, tmp_path / "work", watch_local=True
        ) as controller,
    ):
        wait_for_revision(controller, repo.head())
        recorder.wait_for(topic)

        repo.write_yaml(
            "nodes/oslo-1.yaml",
            {"name": "oslo-1", "tags": {"site": "oslo"}, "vars": {"greeting": "hei"}},
        )
        started = time.monotonic()
        sha = repo.commit("local edit")
        wait_until(lambda: desired(recorder.latest[topic])["revision"] == sha, 15)
        elapsed = time.monotonic() - started
        assert (
            desired(recorder.latest[topic])["apps"]["web"]["resources"][0]["data"]["greeting"]
            == "hei"
        )
        assert elapsed < 10  # typically well under a second; generous for a loaded machine


def test_an_idle_watcher_does_not_fetch_in_a_loop(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The controller's own fetch opens the watched HEAD and packed-refs: those reads
    must not trigger another fetch (it once ran ~50 fetches a second while idle)."""
    repo = FleetRepo.create(tmp_path, {"oslo-1": {"site": "oslo"}})
    git(repo.work, "pack-refs", "--all")  # a packed-refs file for the fetch to read too
    topic = "shoal/nodes/oslo-1/desired"
    with (
        Recorder(mosquitto.url, topic) as recorder,
        running_controller(
            f"file://{repo.work}", mosquitto.url, tmp_path / "work", watch_local=True
        ) as controller,
    ):
        wait_for_revision(controller, repo.head())
        recorder.wait_for(topic)
        settled = controller.source.fetches
        idle_until = time.monotonic() + 3.0
        # Idle for three seconds: count fetches rather than wait for any event.
        wait_until(lambda: time.monotonic() >= idle_until, 10)
        assert controller.source.fetches - settled <= 2

        repo.write_yaml(
            "nodes/oslo-1.yaml",
            {"name": "oslo-1", "tags": {"site": "oslo"}, "vars": {"greeting": "hej"}},
        )
        before = controller.source.fetches
        sha = repo.commit("local edit")
        wait_until(lambda: desired(recorder.latest[topic])["revision"] == sha, 15)
        assert controller.source.fetches - before <= 3  # one commit, about one fetch
