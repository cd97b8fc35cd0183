"""The embedded broker the demo runs on hands a new client only its own retained messages."""

from __future__ import annotations

import threading

from tests.support.waiting import wait_until
from transport import BrokerOptions, EmbeddedBroker, make_client


def subscriber(options: BrokerOptions, name: str, topic: str) -> tuple[object, list[str]]:
    got: list[str] = []
    ready = threading.Event()
    client = make_client(options, name)
    client.on_message = lambda c, u, m: got.append(m.topic)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, 1)
    client.on_subscribe = lambda *a: ready.set()
    client.connect(options.host, options.port)
    client.loop_start()
    assert ready.wait(10)
    return client, got


def test_a_late_subscriber_gets_only_its_own_retained_document() -> None:
    broker = EmbeddedBroker("127.0.0.1", 0)
    broker.start()
    clients = []
    try:
        options = BrokerOptions.from_url(broker.url)
        for node in ("n1", "n2", "n3"):
            clients.append(subscriber(options, f"edge-{node}", f"shoal/nodes/{node}/desired")[0])
        publisher = make_client(options, "controller")
        publisher.connect(options.host, options.port)
        publisher.loop_start()
        clients.append(publisher)
        for node in ("n1", "n2", "n3"):
            topic = f"shoal/nodes/{node}/desired"
            publisher.publish(topic, node.encode(), qos=1, retain=True).wait_for_publish(10)
        late, got = subscriber(options, "edge-n1-again", "shoal/nodes/n1/desired")
        clients.append(late)
        wait_until(lambda: got, 10)
        # A last message on n1's topic: once it is in, nothing else is still on its way.
        publisher.publish("shoal/nodes/n1/desired", b"again", qos=1).wait_for_publish(10)
        wait_until(lambda: len(got) >= 2, 10)
        assert set(got) == {"shoal/nodes/n1/desired"}
    finally:
        for client in clients:
            client.loop_stop()  # type: ignore[attr-defined]
            client.disconnect()  # type: ignore[attr-defined]
        broker.stop()
