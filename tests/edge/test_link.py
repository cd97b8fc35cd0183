"""The agent's broker link says why it cannot connect: once, then now and then — not never.

Real sockets throughout: a port nobody listens on, a listener that hangs up on every
client (as a TLS listener does to plain MQTT), a Mosquitto spoken to with mqtts://,
and a Mosquitto refusing anonymous clients.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.link import BrokerLink, Outage
from shadow import Topics
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.waiting import wait_until
from transport import BrokerOptions

WORKING_LOCALLY = "; retrying (working from the local store meanwhile)"


def start_link(url: str, *, warn_interval: float = 30.0) -> BrokerLink:
    link = BrokerLink(
        BrokerOptions.from_url(url),
        "edge-001",
        Topics(),
        on_desired=lambda payload: None,
        on_connected=lambda: None,
        on_published=lambda mid: None,
        reconnect_max_delay=1,
        warn_interval=warn_interval,
    )
    link.start()
    return link


@pytest.fixture
def links() -> Iterator[list[BrokerLink]]:
    started: list[BrokerLink] = []
    try:
        yield started
    finally:
        for link in started:
            link.stop()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edge.link" and r.levelno >= 30]


def test_nothing_listening_is_said_once_not_at_every_attempt(
    caplog: pytest.LogCaptureFixture, links: list[BrokerLink]
) -> None:
    caplog.set_level(logging.INFO, logger="edge.link")
    url = f"mqtt://127.0.0.1:{free_port()}"
    link = start_link(url)
    links.append(link)
    wait_until(lambda: link.outage.attempts >= 3, 20)
    assert warnings(caplog) == [
        f"cannot reach the broker at {url}: connection refused{WORKING_LOCALLY}"
    ]
    assert link.outage.reason == "connection refused"
    assert not link.connected


def test_mqtts_against_a_plain_listener_says_the_handshake_failed(
    caplog: pytest.LogCaptureFixture, links: list[BrokerLink], mosquitto: Mosquitto
) -> None:
    caplog.set_level(logging.INFO, logger="edge.link")
    url = mosquitto.url.replace("mqtt://", "mqtts://")
    links.append(start_link(url))
    (message,) = wait_until(lambda: warnings(caplog), 20)
    assert message.startswith(f"cannot reach the broker at {url}: ")
    assert "TLS handshake" in message and "is that port a TLS listener?" in message


def test_a_listener_that_hangs_up_before_accepting_is_reported(
    caplog: pytest.LogCaptureFixture, links: list[BrokerLink]
) -> None:
    """What plain mqtt:// meets at a TLS port: the connection opens, then closes."""
    caplog.set_level(logging.INFO, logger="edge.link")
    server = socket.create_server(("127.0.0.1", 0))
    closing = threading.Event()

    def hang_up() -> None:
        while not closing.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        url = f"mqtt://127.0.0.1:{server.getsockname()[1]}"
        link = start_link(url)
        links.append(link)
        wait_until(lambda: link.outage.attempts >= 2, 20)
        (message,) = warnings(caplog)
        assert message.startswith(f"cannot reach the broker at {url}: the broker closed ")
        assert "mqtts://" in message  # the likely fix, for a plain URL
    finally:
        closing.set()
        server.close()


def test_a_refusing_broker_is_reported_once_per_outage(
    caplog: pytest.LogCaptureFixture, links: list[BrokerLink], tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="edge.link")
    with Mosquitto(tmp_path / "broker", extra_config="allow_anonymous false\n") as broker:
        link = start_link(broker.url)
        links.append(link)
        wait_until(lambda: link.outage.attempts >= 3, 20)
        assert warnings(caplog) == [
            f"cannot reach the broker at {broker.url}: "
            f"the broker refused the connection: Not authorized{WORKING_LOCALLY}"
        ]


def test_reaching_the_broker_ends_the_outage(
    caplog: pytest.LogCaptureFixture, links: list[BrokerLink], tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="edge.link")
    port = free_port()
    link = start_link(f"mqtt://127.0.0.1:{port}")
    links.append(link)
    wait_until(lambda: link.outage.attempts >= 1, 20)
    with Mosquitto(tmp_path / "broker", port=port):
        wait_until(lambda: link.connected, 20)
        assert link.outage.attempts == 0
        assert any(m.startswith(f"connected to {link.options.url} after ") for m in infos(caplog))


def infos(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edge.link"]


def test_an_outage_warns_first_then_at_the_interval() -> None:
    outage = Outage("mqtt://b:1883", warn_interval=30.0)
    first = outage.failed("connection refused", now=100.0)
    assert first == f"cannot reach the broker at mqtt://b:1883: connection refused{WORKING_LOCALLY}"
    assert outage.failed("connection refused", now=110.0) is None
    assert outage.failed("connection refused", now=129.9) is None
    assert outage.failed("connection refused", now=130.0) == (
        "still cannot reach the broker at mqtt://b:1883 (4 attempts in 30 s): "
        f"connection refused{WORKING_LOCALLY}"
    )
    assert outage.failed("connection refused", now=140.0) is None
    assert (outage.attempts, outage.reason, outage.since) == (5, "connection refused", 100.0)
    assert outage.ended(now=150.0) == "after 5 failed attempts in 50 s"
    assert outage.attempts == 0 and outage.reason == ""
    assert outage.ended(now=151.0) == ""
    assert outage.failed("timed out", now=152.0) is not None
