"""Poisoned reports on the broker: the status writer survives them, refuses them on
their node alone, keeps committing every other node, and is not poisoned at restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from controller.status import StatusWriter
from tests.status.conftest import git
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import publish
from tests.support.reports import report
from tests.support.waiting import wait_until
from transport import BrokerOptions

BRANCH = "shoal-status"
DEEP = b"[" * 200_000 + b"]" * 200_000
SURROGATE = (
    report("edge-02")
    .to_json()
    .replace(b'"state":"Synced"', b'"message":"\\ud800","state":"Synced"')
)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.git"
    git(tmp_path, "init", "-q", "--bare", str(path))
    return path


@pytest.fixture
def fleet() -> set[str]:
    return {"edge-01", "edge-02", "edge-03"}


@pytest.fixture
def writers() -> Iterator[list[StatusWriter]]:
    started: list[StatusWriter] = []
    yield started
    for writer in started:
        writer.stop()


def start(
    mosquitto: Mosquitto, remote: Path, tmp_path: Path, fleet: set[str], writers: list[StatusWriter]
) -> StatusWriter:  # type: ignore[type-arg]
    members = frozenset(fleet)
    writer = StatusWriter(
        BrokerOptions.from_url(mosquitto.url),
        str(remote),
        tmp_path / "work",
        interval=0.2,
        known_nodes=lambda: members,
    )
    writer.start()
    writers.append(writer)
    assert writer.wait_subscribed(10)
    return writer


def committed(remote: Path) -> set[str]:
    try:
        out = git(remote, "ls-tree", "--name-only", f"{BRANCH}:nodes")
    except Exception:
        return set()
    return {name.removesuffix(".yaml") for name in out.split()}


def summary(remote: Path) -> dict:  # type: ignore[type-arg]
    data: dict = yaml.safe_load(git(remote, "show", f"{BRANCH}:summary.yaml"))  # type: ignore[type-arg]
    return data


@pytest.mark.parametrize(
    "poison",
    [
        DEEP,
        SURROGATE,
        b"\xff\xfe not utf-8",
        b'{"generation": ' + b"9" * 5000 + b"}",
        b"x" * 2_000_000,
    ],
    ids=["deeply-nested", "lone-surrogate", "not-utf8", "huge-integer", "2MB"],
)
def test_a_retained_poison_report_blocks_no_one_even_across_a_restart(
    mosquitto: Mosquitto,
    remote: Path,
    tmp_path: Path,
    fleet: set[str],
    writers: list[StatusWriter],
    poison: bytes,
) -> None:
    publish(mosquitto.url, "shoal/nodes/edge-02/reported", poison)
    publish(mosquitto.url, "shoal/nodes/edge-01/reported", report("edge-01").to_json())
    writer = start(mosquitto, remote, tmp_path, fleet, writers)
    wait_until(lambda: committed(remote) == {"edge-01"}, 20, message="edge-01 not committed")
    wait_until(lambda: "edge-02" in writer.intake.refused, 20, message="the poison not seen")
    assert writer.health_fields()["reportsRefused"] == {"report-invalid": 1}
    writer.stop()
    writers.clear()
    # The poison is still retained: the writer refuses it again, harmlessly.
    publish(mosquitto.url, "shoal/nodes/edge-03/reported", report("edge-03").to_json())
    again = start(mosquitto, remote, tmp_path, fleet, writers)
    wait_until(lambda: committed(remote) == {"edge-01", "edge-03"}, 20, message="not committed")
    wait_until(lambda: "edge-02" in again.intake.refused, 20, message="the poison not seen")
    # The node fixes itself: its good report is taken and its refusal forgotten.
    publish(mosquitto.url, "shoal/nodes/edge-02/reported", report("edge-02").to_json())
    wait_until(lambda: "edge-02" in committed(remote), 20, message="edge-02 not committed")
    assert again.intake.refused == {}


def test_reports_from_nodes_not_in_the_fleet_are_counted_not_written(
    mosquitto: Mosquitto, remote: Path, tmp_path: Path, fleet: set[str], writers: list[StatusWriter]
) -> None:
    publish(mosquitto.url, "shoal/nodes/stranger/reported", report("stranger").to_json())
    publish(mosquitto.url, "shoal/nodes/edge-01/reported", report("edge-01").to_json())
    writer = start(mosquitto, remote, tmp_path, fleet, writers)
    wait_until(lambda: committed(remote) == {"edge-01"}, 20, message="edge-01 not committed")
    wait_until(lambda: writer.health_fields()["unknownNodes"] == ["stranger"], 20, message="?")
    assert summary(remote)["nodes"] == 1
    assert writer.health_fields()["reportsRefused"] == {"unknown-node": 1}


def test_a_node_removed_from_the_fleet_has_its_status_file_removed(
    mosquitto: Mosquitto, remote: Path, tmp_path: Path, writers: list[StatusWriter]
) -> None:
    members = {"now": frozenset({"edge-01", "edge-02"})}
    writer = StatusWriter(
        BrokerOptions.from_url(mosquitto.url),
        str(remote),
        tmp_path / "work",
        interval=0.2,
        known_nodes=lambda: members["now"],
    )
    writer.start()
    writers.append(writer)
    assert writer.wait_subscribed(10)
    for node in ("edge-01", "edge-02"):
        publish(mosquitto.url, f"shoal/nodes/{node}/reported", report(node).to_json())
    wait_until(lambda: committed(remote) == {"edge-01", "edge-02"}, 20, message="not committed")
    members["now"] = frozenset({"edge-01"})
    writer._wake.set()
    wait_until(lambda: committed(remote) == {"edge-01"}, 20, message="edge-02's file stayed")
    assert summary(remote)["nodes"] == 1
    subject = git(remote, "log", "-1", "--format=%s", BRANCH).strip()
    assert subject == "1 removed from the fleet: edge-02"
