"""The agent's MQTT connection: its desired topic in, reports and presence out.

Owned by the agent (edge/agent.py). It connects in the background and keeps
reconnecting (the node may boot with no network), subscribes to the node's own
desired topic at QoS 1 on every connect, publishes `online` = `true` retained on
connect, and leaves `false` as its last will so the fleet sees a node that died.

Callbacks run on paho's network thread, some while paho holds its own locks, so
they only hand events over (the agent queues them) — apart from the node's own
`online` flag on connect, nothing is published and nothing calls Kubernetes here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from shadow import Topics
from transport import BrokerOptions, make_client

log = logging.getLogger(__name__)


class BrokerLink:
    def __init__(
        self,
        options: BrokerOptions,
        node: str,
        topics: Topics,
        on_desired: Callable[[bytes], None],
        on_connected: Callable[[], None],
        on_published: Callable[[int], None],
        *,
        reconnect_max_delay: int = 30,
    ) -> None:
        self.options = options
        self.node = node
        self.topics = topics
        self._on_desired = on_desired
        self._on_connected = on_connected
        self._on_published = on_published
        self._connected = threading.Event()
        self._stopping = False
        self.client = make_client(options, f"shoal-edge-{node}", clean_session=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, reconnect_max_delay))
        self.client.will_set(topics.online(node), b"false", qos=1, retain=True)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_message = self._handle_message
        self.client.on_publish = self._handle_publish

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background; paho retries until the broker answers."""
        log.info("connecting to %s as node %s", self.options.url, self.node)
        self.client.connect_async(self.options.host, self.options.port, self.options.keepalive)
        self.client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Say `online: false` (a clean exit is not a death) and disconnect."""
        self._stopping = True
        if self.connected:
            try:
                info = self.client.publish(self.topics.online(self.node), b"false", 1, True)
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.debug("could not publish offline state: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()

    def publish_report(self, payload: bytes) -> int | None:
        """Hand a report to paho; its message id, or None (nothing queued) while disconnected.

        A report published just as the link drops stays queued in paho (and is sent
        on reconnect), so it counts as in flight too.
        """
        if not self.connected:
            return None
        try:
            info = self.client.publish(self.topics.reported(self.node), payload, 1, True)
        except (ValueError, RuntimeError) as exc:
            log.warning("cannot publish the report: %s", exc)
            return None
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("cannot publish the report: %s", mqtt.error_string(info.rc))
            return None
        return info.mid

    # --- paho callbacks (network thread) ---------------------------------------------

    def _handle_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker %s refused the connection: %s", self.options.url, reason)
            return
        log.info("connected to %s", self.options.url)
        client.subscribe(self.topics.desired(self.node), qos=1)
        client.publish(self.topics.online(self.node), b"true", qos=1, retain=True)
        self._connected.set()
        self._on_connected()

    def _handle_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning("lost the broker %s (%s); retrying", self.options.url, reason)
        self._connected.clear()

    def _handle_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any
    ) -> None:
        self._on_published(mid)

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._on_desired(bytes(msg.payload))
