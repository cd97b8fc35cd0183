"""The embedded MQTT broker (amqtt) for a machine with no broker installed.

`shoal controller` without `--broker` and `shoal demo` start one on 127.0.0.1:1883.
It runs its own asyncio loop in a daemon thread so synchronous callers can use it:

    with EmbeddedBroker(port=1883) as broker:
        ...  # connect paho clients to broker.url

amqtt speaks MQTT 3.1.1 only and keeps retained messages in memory: it is for
trying shoal out, not for a fleet. Use Mosquitto, EMQX or VerneMQ there.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent.futures import Future
from typing import Any

from transport.broker import BrokerUnavailable

log = logging.getLogger(__name__)


class EmbeddedBrokerError(BrokerUnavailable):
    """The embedded broker could not start (port taken, amqtt missing)."""


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        if self.port == 0:
            self.port = _free_port(self.host)
        _check_port_free(self.host, self.port)
        for name in ("amqtt", "transitions", "websockets"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="embedded-broker", daemon=True
        )
        self._thread.start()
        started: Future[None] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            started.result(timeout)
        except Exception as exc:
            self.stop()
            raise EmbeddedBrokerError(f"embedded broker did not start: {exc}") from exc

    async def _start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = _confined(Broker)(config)
        await self._broker.start()

    def stop(self, timeout: float = 10.0) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._broker is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop).result(timeout)
            except Exception as exc:  # shutting down: report, do not raise
                log.debug("embedded broker shutdown: %s", exc)
            self._broker = None
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        loop.close()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _confined(broker_class: Any) -> Any:
    """amqtt's Broker, giving a client retained messages of its own subscriptions only.

    amqtt 0.12 sends a client that connects the retained messages of every topic
    filter *any* client subscribed to: a node's edge would receive every other node's
    Desired document, which breaks the one-node-one-shadow rule (edges reject them,
    but must not see them).
    """

    class ConfinedBroker(broker_class):  # type: ignore[misc]
        async def _publish_retained_messages_for_subscription(
            self, subscription: tuple[str, int], session: Any
        ) -> None:
            subscribers = self._subscriptions.get(subscription[0], [])
            if any(subscriber is session for subscriber, _ in subscribers):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    return ConfinedBroker


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise EmbeddedBrokerError(
                f"cannot start the embedded broker on {host}:{port}: {exc.strerror}. "
                "Is another broker running there? Pass --broker mqtt://host:port to use it."
            ) from exc
