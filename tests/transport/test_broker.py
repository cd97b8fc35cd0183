"""Broker URLs as people type them, and both brokers shoal talks to: Mosquitto and the embedded one."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder, publish
from transport import (
    BrokerOptions,
    BrokerURLError,
    EmbeddedBroker,
    add_broker_arguments,
    make_client,
)
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


@pytest.mark.parametrize("flag", ["ca_file", "cert_file"])
def test_a_missing_tls_file_is_named_with_its_flag(tmp_path: Path, flag: str) -> None:
    present = tmp_path / "present.pem"
    present.write_text("not used")
    missing = str(tmp_path / "nonexist")
    files = {"ca_file": str(present), "cert_file": str(present), "key_file": str(present)}
    files[flag] = missing
    options = BrokerOptions.from_url("mqtts://broker.example.com", **files)
    option = "--" + flag.replace("_", "-")
    with pytest.raises(BrokerURLError) as raised:
        make_client(options, "t")
    assert str(raised.value) == f"{option} {missing}: no such file"


def test_an_unreadable_tls_file_names_the_files_in_the_error(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("this is not a certificate\n")
    options = BrokerOptions.from_url("mqtts://broker.example.com", ca_file=str(ca))
    with pytest.raises(BrokerURLError, match=re.escape(f"--ca-file {ca}")):
        make_client(options, "t")


def test_from_args_checks_the_tls_files_up_front(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_broker_arguments(parser, default="mqtt://127.0.0.1:1883")
    args = parser.parse_args(["--ca-file", str(tmp_path / "nonexist")])
    with pytest.raises(
        BrokerURLError, match=re.escape(f"--ca-file {tmp_path / 'nonexist'}: no such file")
    ):
        BrokerOptions.from_args(args)


def test_a_dropped_connection_is_described_in_words() -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    from transport import describe_disconnect

    dropped = ReasonCode(PacketTypes.DISCONNECT, identifier=128)
    assert describe_disconnect(dropped) == "the connection closed unexpectedly"
    assert (
        describe_disconnect(ReasonCode(PacketTypes.CONNACK, "Not authorized")) == "Not authorized"
    )
