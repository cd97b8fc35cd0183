"""The agent's MQTT connection: its desired topic in, reports and presence out.

Owned by the agent (edge/agent.py). It connects in the background and keeps
reconnecting (the node may boot with no network), subscribes to the node's own
desired topic at QoS 1 on every connect, publishes `online` = `true` retained on
connect, and leaves `false` as its last will so the fleet sees a node that died.
A broker it cannot reach (nothing listening, a TLS mismatch, refused credentials)
is logged as a warning on the first failed attempt and then every `warn_interval`
seconds while it lasts (`Outage`), so a node that cannot connect says why.

Callbacks run on paho's network thread, some while paho holds its own locks, so
they only hand events over (the agent queues them) — apart from the node's own
`online` flag on connect, nothing is published and nothing calls Kubernetes here.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from shadow import Topics
from transport import BrokerOptions, describe_disconnect, make_client

log = logging.getLogger(__name__)

_MEANWHILE = "retrying (working from the local store meanwhile)"


class Outage:
    """The failed connection attempts since the broker was last reached.

    `failed` returns the warning to log, or None when one was logged less than
    `warn_interval` seconds ago: the first failure is said at once, then the
    outage is summed up now and then instead of once per reconnect attempt.
    """

    def __init__(self, url: str, warn_interval: float = 30.0) -> None:
        self.url = url
        self.warn_interval = warn_interval
        self.attempts = 0
        self.reason = ""
        self.since = 0.0
        self._warned = 0.0

    def failed(self, reason: str, now: float) -> str | None:
        self.attempts += 1
        self.reason = reason
        if self.attempts == 1:
            self.since = self._warned = now
            return f"cannot reach the broker at {self.url}: {reason}; {_MEANWHILE}"
        if now - self._warned < self.warn_interval:
            return None
        self._warned = now
        return (
            f"still cannot reach the broker at {self.url} "
            f"({self.attempts} attempts in {now - self.since:.0f} s): {reason}; {_MEANWHILE}"
        )

    def ended(self, now: float) -> str:
        """Forget the outage; how long it lasted ("" if there was none)."""
        if not self.attempts:
            return ""
        attempts, self.attempts, self.reason = self.attempts, 0, ""
        plural = "attempt" if attempts == 1 else "attempts"
        return f"after {attempts} failed {plural} in {now - self.since:.0f} s"


def describe_failure(exc: BaseException | None, options: BrokerOptions) -> str:
    """Why a connection attempt failed, in words (paho only says that it did)."""
    tls_hint = " (is that port a TLS listener?)" if options.tls else ""
    if exc is None:  # the socket opened, then closed before the CONNACK
        plain_hint = "" if options.tls else " (a TLS listener? then use mqtts://)"
        return f"the broker closed the connection before accepting it{plain_hint}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        ca_hint = "" if options.ca_file else " (give --ca-file for a private CA)"
        return f"TLS certificate not trusted: {exc.verify_message}{ca_hint}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}{tls_hint}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {options.host}: {exc.strerror}"
    if isinstance(exc, ConnectionResetError) and options.tls:
        return f"TLS handshake failed: connection reset by the broker{tls_hint}"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


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
        warn_interval: float = 30.0,
    ) -> None:
        self.options = options
        self.node = node
        self.topics = topics
        self._on_desired = on_desired
        self._on_connected = on_connected
        self._on_published = on_published
        self._connected = threading.Event()
        self._stopping = False
        self._refused = False  # the last attempt got a refusing CONNACK (already counted)
        self.outage = Outage(options.url, warn_interval)
        self.failures = 0  # exceptions caught in callbacks (a bug each)
        self.client = make_client(options, f"shoal-edge-{node}", clean_session=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, reconnect_max_delay))
        self.client.will_set(topics.online(node), b"false", qos=1, retain=True)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_connect_fail = self._handle_connect_fail
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
            self._refused = True
            self._attempt_failed(f"the broker refused the connection: {reason}")
            return
        after = self.outage.ended(time.monotonic())
        log.info("connected to %s%s", self.options.url, f" {after}" if after else "")
        client.subscribe(self.topics.desired(self.node), qos=1)
        client.publish(self.topics.online(self.node), b"true", qos=1, retain=True)
        self._connected.set()
        self._on_connected()

    def _handle_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning(
                "lost the broker %s (%s); retrying", self.options.url, describe_disconnect(reason)
            )
        elif not self._connected.is_set() and not self._stopping and not self._refused:
            self._attempt_failed(describe_failure(None, self.options))
        self._refused = False
        self._connected.clear()

    def _handle_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this from inside its `except OSError:`: the exception is the reason.
        self._attempt_failed(describe_failure(sys.exc_info()[1], self.options))

    def _attempt_failed(self, reason: str) -> None:
        warning = self.outage.failed(reason, time.monotonic())
        if warning:
            log.warning("%s", warning)
        else:
            log.debug("cannot reach the broker at %s: %s", self.options.url, reason)

    def _handle_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any
    ) -> None:
        self._on_published(mid)

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._on_desired(bytes(msg.payload))
        except Exception:  # nothing a message holds may stop paho's network thread
            self.failures += 1
            log.exception("cannot take the message on %s", msg.topic)
