"""The broker is repaired while the work dir survives: a broker that lost its retained
documents (database wiped) or holds garbage on a node's topic gets them back, with the
ledger's generations (same content, never a new generation)."""

from __future__ import annotations

import json
from pathlib import Path

from controller.service.controller import Controller, ControllerSettings
from tests.support.controller import FleetRepo, running_controller, wait_for_revision
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder, publish
from tests.support.waiting import wait_until
from transport import BrokerOptions

NODES = {f"edge-{i}": {"site": "s"} for i in range(6)}
TOPICS = [f"shoal/nodes/{node}/desired" for node in NODES]


def wipe(broker: Mosquitto) -> None:
    """Stop the broker, delete its persistence, start it again on the same port."""
    broker.stop()
    for db in broker.workdir.glob("mosquitto.db*"):
        db.unlink()
    broker.start()


def generations(recorder: Recorder) -> dict[str, int]:
    return {t: json.loads(recorder.latest[t])["generation"] for t in TOPICS}


def retained(url: str) -> dict[str, bytes]:
    """What a new subscriber gets for every node's topic (empty when not retained)."""
    with Recorder(url, *TOPICS) as recorder:
        wait_until(lambda: len(recorder.latest) == len(TOPICS), 10, message="not all retained")
        return dict(recorder.latest)


def once(repo: FleetRepo, url: str, work: Path) -> int:
    settings = ControllerSettings(
        repo=str(repo.remote), work_dir=work, broker=BrokerOptions.from_url(url)
    )
    return Controller(settings).run_once(ack_timeout=20)


def test_a_running_controller_refills_a_wiped_broker(tmp_path: Path) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    with (
        Mosquitto(tmp_path / "mosquitto") as broker,
        running_controller(repo.remote, broker.url, tmp_path / "work") as controller,
    ):
        wait_for_revision(controller, repo.head())
        before = {t: json.loads(p)["generation"] for t, p in retained(broker.url).items()}

        wipe(broker)
        # Every document is back within seconds, with the same generation.
        after = retained(broker.url)
        assert {t: json.loads(p)["generation"] for t, p in after.items()} == before
        assert controller.metrics.documents_published == 2 * len(NODES)


def test_once_refills_a_wiped_broker_with_the_same_generations(tmp_path: Path) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    work = tmp_path / "work"
    with Mosquitto(tmp_path / "mosquitto") as broker:
        assert once(repo, broker.url, work) == 0
        before = {t: json.loads(p)["generation"] for t, p in retained(broker.url).items()}
        wipe(broker)
        assert once(repo, broker.url, work) == 0
        after = {t: json.loads(p)["generation"] for t, p in retained(broker.url).items()}
        assert after == before


def test_garbage_on_a_desired_topic_is_replaced(tmp_path: Path, mosquitto: Mosquitto) -> None:
    repo = FleetRepo.create(tmp_path, NODES)
    work = tmp_path / "work"
    assert once(repo, mosquitto.url, work) == 0
    good = retained(mosquitto.url)
    publish(mosquitto.url, TOPICS[0], b"not json", retain=True)
    publish(mosquitto.url, TOPICS[1], b'{"generation": 1, "digest": "sha256:old"}', retain=True)
    assert once(repo, mosquitto.url, work) == 0
    assert retained(mosquitto.url) == good
