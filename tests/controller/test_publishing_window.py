"""A batch bigger than the publisher's window: paho holds only the window, the rest waits
unencoded, and everything still arrives, retained and confirmed, after a broker outage.
A newer document for a node replaces its older one still waiting. Real Mosquitto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.service.ledger import Ledger
from controller.service.publisher import Publisher
from shadow import DesiredApp, DesiredDocument, Topics
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until
from transport import BrokerOptions

WINDOW = 5
TOPICS = Topics("shoal")
APP = DesiredApp.build(
    "1.0", "web", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}}]
)


def documents(nodes: list[str], generation: int, revision: str = "a" * 40) -> list[DesiredDocument]:
    return [DesiredDocument.build(node, revision, generation, {"web": APP}) for node in nodes]


class HandedToPaho:
    """Passes every publish through to paho, noting the topic, the generation and how many
    messages paho held at that moment."""

    def __init__(self, publisher: Publisher) -> None:
        self.client = publisher._client
        self.sent: list[tuple[str, int]] = []
        self.most_held = 0
        self._publish = self.client.publish
        self.client.publish = self  # type: ignore[method-assign]

    def __call__(self, topic: str, payload: bytes, **kwargs: Any) -> Any:
        self.most_held = max(self.most_held, self.held + 1)
        self.sent.append((topic, json.loads(payload)["generation"]))
        return self._publish(topic, payload, **kwargs)

    @property
    def held(self) -> int:
        return len(self.client._out_messages)


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[Publisher]:
    options = BrokerOptions.from_url(mosquitto.url)
    publisher = Publisher(options, max_inflight=2, window=WINDOW)
    publisher.start()
    publisher.wait_connected(10)
    try:
        yield publisher
    finally:
        publisher.stop()


def broker_away(mosquitto: Mosquitto, publisher: Publisher) -> None:
    mosquitto.stop()
    wait_until(lambda: not publisher.connected, message="the publisher did not notice")


def test_a_batch_beyond_the_window_waits_out_the_broker_and_arrives_confirmed(
    tmp_path: Path, mosquitto: Mosquitto, publisher: Publisher
) -> None:
    spy = HandedToPaho(publisher)
    ledger = Ledger(tmp_path / "ledger.json")
    nodes = [f"edge-{i:02d}" for i in range(40)]
    batch = documents(nodes, 7)
    broker_away(mosquitto, publisher)

    ledger.issue({d.node: (d.generation, d.digest) for d in batch})
    assert publisher.publish(TOPICS, ledger, batch) == 40
    assert publisher.unconfirmed == 40
    wait_until(lambda: spy.held == WINDOW, message="the window was not filled")
    assert not publisher.wait_confirmed(0.2)
    assert spy.held == WINDOW  # paho holds the window; 35 wait, not yet encoded
    assert len(spy.sent) == WINDOW

    mosquitto.start()
    assert publisher.wait_confirmed(60), f"{publisher.unconfirmed} still unconfirmed"
    assert publisher.unconfirmed == 0
    # + 1: refilled from on_publish, paho still holds the message being acknowledged
    # (it drops it when the callback returns)
    assert spy.most_held <= WINDOW + 1
    assert sorted(spy.sent) == sorted((TOPICS.desired(n), 7) for n in nodes)  # each once
    assert Ledger(ledger.path).unconfirmed() == []  # confirmed on disk
    assert publisher.confirmed_total == 40
    with Recorder(mosquitto.url, "shoal/nodes/+/desired") as recorder:
        wait_until(lambda: len(recorder.latest) == 40, message="not every document is retained")
        assert {json.loads(p)["generation"] for p in recorder.latest.values()} == {7}


def test_a_newer_generation_replaces_the_waiting_older_one(
    tmp_path: Path, mosquitto: Mosquitto, publisher: Publisher
) -> None:
    spy = HandedToPaho(publisher)
    ledger = Ledger(tmp_path / "ledger.json")
    nodes = [f"edge-{i:02d}" for i in range(10)]
    broker_away(mosquitto, publisher)
    first = documents(nodes, 1)
    ledger.issue({d.node: (d.generation, d.digest) for d in first})
    publisher.publish(TOPICS, ledger, first)
    wait_until(lambda: spy.held == WINDOW, message="the window was not filled")
    # edge-00 is in paho's window already; edge-08 still waits: only its newer one goes.
    again = documents(["edge-00", "edge-08"], 2, revision="b" * 40)
    ledger.issue({d.node: (d.generation, d.digest) for d in again})
    publisher.publish(TOPICS, ledger, again)
    assert publisher.superseded == 1
    assert publisher.unconfirmed == 11

    mosquitto.start()
    assert publisher.wait_confirmed(60), f"{publisher.unconfirmed} still unconfirmed"
    sent = [generation for topic, generation in spy.sent if topic == TOPICS.desired("edge-00")]
    assert sent == [1, 2]  # in order: the newer one last, so it is the one retained
    assert [g for t, g in spy.sent if t == TOPICS.desired("edge-08")] == [2]
    assert len(spy.sent) == 11
    entries = Ledger(ledger.path).snapshot()
    assert all(entry.confirmed for entry in entries.values())
    assert (entries["edge-00"].generation, entries["edge-08"].generation) == (2, 2)
    with Recorder(mosquitto.url, "shoal/nodes/+/desired") as recorder:
        wait_until(lambda: len(recorder.latest) == 10, message="not every document is retained")
        retained = {t: json.loads(p)["generation"] for t, p in recorder.latest.items()}
    assert retained[TOPICS.desired("edge-00")] == retained[TOPICS.desired("edge-08")] == 2
    assert sorted(retained.values()).count(1) == 8
