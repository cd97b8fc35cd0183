"""StatusService: the writer starts once the controller knows the fleet's topic prefix."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from controller.status.service import StatusService
from shadow import Topics
from tests.status.conftest import git
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import publish
from tests.support.reports import report
from tests.support.waiting import wait_until
from transport import BrokerOptions


def test_the_writer_waits_for_the_prefix_then_commits_under_it(
    mosquitto: Mosquitto, remote: Path, tmp_path: Path
) -> None:
    controller = SimpleNamespace(topics=None, broker=BrokerOptions.from_url(mosquitto.url))
    service = StatusService(controller, str(remote), tmp_path / "work", interval=0.2)
    service.start()
    try:
        assert service.writer is None  # no good revision yet: the prefix is unknown
        controller.topics = Topics("acme")
        writer = wait_until(lambda: service.writer, 10)
        assert writer.wait_subscribed(10)
        publish(mosquitto.url, Topics("acme").reported("edge-01"), report("edge-01").to_json())
        publish(mosquitto.url, Topics("shoal").reported("edge-02"), report("edge-02").to_json())
        wait_until(lambda: "edge-01" in writer.book.nodes, 10)
    finally:
        service.stop()  # flushes
    files = git(remote, "ls-tree", "-r", "--name-only", "shoal-status").split()
    assert files == ["nodes/edge-01.yaml", "summary.yaml"]


def test_healthz_fields_name_a_refused_status_push_until_it_goes_through(
    mosquitto: Mosquitto, remote: Path, tmp_path: Path
) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'status pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    controller = SimpleNamespace(
        topics=Topics("shoal"), broker=BrokerOptions.from_url(mosquitto.url)
    )
    service = StatusService(controller, str(remote), tmp_path / "work", interval=0.2)
    assert service.health_fields() == {"statusBranch": "shoal-status", "statusError": None}
    service.start()
    try:
        writer = wait_until(lambda: service.writer, 10)
        assert writer.wait_subscribed(10)
        publish(mosquitto.url, Topics("shoal").reported("edge-01"), report("edge-01").to_json())
        error = wait_until(lambda: service.health_fields()["statusError"], 15)
        assert "status pushes are frozen" in error
        hook.unlink()
        wait_until(lambda: service.health_fields()["statusError"] is None, 20)
    finally:
        service.stop()
    assert git(remote, "ls-tree", "-r", "--name-only", "shoal-status").split()
