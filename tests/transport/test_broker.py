"""Broker URLs as people type them, and both brokers shoal talks to: Mosquitto and the embedded one."""

from __future__ import annotations

import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder, publish
from transport import BrokerOptions, BrokerURLError, EmbeddedBroker
from transport.embedded import EmbeddedBrokerError


def test_plain_url_with_credentials() -> None:
    opts = BrokerOptions.from_url("mqtt://edge%2D1:s3cret@broker.example.com:1884")
    assert (opts.host, opts.port, opts.tls) == ("broker.example.com", 1884, False)
    assert (opts.username, opts.password) == ("edge-1", "s3cret")
    assert opts.url == "mqtt://edge-1@broker.example.com:1884"  # no password in logs


def test_mqtts_defaults_to_8883_and_tls() -> None:
    opts = BrokerOptions.from_url("mqtts://broker.example.com", ca_file="ca.pem")
    assert (opts.port, opts.tls, opts.ca_file) == (8883, True, "ca.pem")


def test_bare_host_means_mqtt() -> None:
    assert BrokerOptions.from_url("localhost:1999").port == 1999


@pytest.mark.parametrize(
    ("url", "kw", "fragment"),
    [
        ("http://broker", {}, "scheme must be mqtt:// or mqtts://"),
        ("mqtt://", {}, "has no host"),
        ("mqtt://host:notaport", {}, "mqtt://host:notaport"),
        ("mqtts://host", {"cert_file": "c.pem"}, "--cert-file and --key-file go together"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, kw: dict[str, str], fragment: str) -> None:
    with pytest.raises(BrokerURLError, match=fragment.replace("/", "/")):
        BrokerOptions.from_url(url, **kw)


def test_retained_message_reaches_a_late_subscriber_on_mosquitto(mosquitto: Mosquitto) -> None:
    publish(mosquitto.url, "shoal/nodes/a/desired", b"{}")
    with Recorder(mosquitto.url, "shoal/nodes/+/desired") as rec:
        assert rec.wait_for("shoal/nodes/a/desired") == b"{}"
        assert rec.messages[0].retain


def test_embedded_broker_serves_retained_messages_and_refuses_a_taken_port() -> None:
    with EmbeddedBroker(port=0) as broker:
        publish(broker.url, "shoal/nodes/a/desired", b"x")
        with Recorder(broker.url, "shoal/nodes/+/desired") as rec:
            assert rec.wait_for("shoal/nodes/a/desired") == b"x"
        with pytest.raises(EmbeddedBrokerError, match="Is another broker running there"):
            EmbeddedBroker(port=broker.port).start()
