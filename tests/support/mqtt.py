"""A test-side MQTT subscriber that records what arrives, for asserting on the broker's view."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from tests.support.waiting import wait_until
from transport import BrokerOptions, make_client


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


class Recorder:
    """Subscribes to `topics` and keeps every message; `latest[topic]` is the last payload."""

    def __init__(self, url: str, *topics: str) -> None:
        self.messages: list[Message] = []
        self.latest: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = make_client(BrokerOptions.from_url(url), f"test-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)  # back soon after a broker restart
        self.subscriptions = 0  # SUBACKs so far: one per (re)connect
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *a: self._on_subscribe()
        options = BrokerOptions.from_url(url)
        self.client.connect(options.host, options.port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("test subscriber did not get SUBACK")

    def _on_subscribe(self) -> None:
        self.subscriptions += 1
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Message(msg.topic, msg.payload, bool(msg.retain)))
            self.latest[msg.topic] = msg.payload

    def count(self, topic: str | None = None) -> int:
        with self._lock:
            return sum(1 for m in self.messages if topic is None or m.topic == topic)

    def wait_for(self, topic: str, timeout: float = 10.0) -> bytes:
        return wait_until(lambda: self.latest.get(topic), timeout, message=f"nothing on {topic}")

    def close(self) -> None:
        # disconnect first: it wakes the network thread, so loop_stop need not wait out select()
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publish(url: str, topic: str, payload: bytes, *, retain: bool = True, qos: int = 1) -> None:
    """Publish one message and wait for the broker's acknowledgement."""
    options = BrokerOptions.from_url(url)
    client = make_client(options, f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect(options.host, options.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
