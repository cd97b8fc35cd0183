"""A secured fleet for the identity tests: a fleet CA, a fleet repository with two nodes,
a real Mosquitto started from the configuration `shoal broker-config` generated, and
certificates for the controller, the nodes and a stranger from another CA.

    def test_x(secured): client = secured.client("node-a"); ...
"""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.identity.authority import CONTROLLER_NAME, Authority, write_private
from shoal.cli import main as shoal
from tests.support.controller import FleetRepo
from tests.support.mosquitto import GeneratedMosquitto, free_port
from tests.support.waiting import wait_until
from transport import BrokerOptions, make_client

NODES = {"node-a": {"site": "paris"}, "node-b": {"site": "lyon"}}


def issue_files(authority: Authority, name: str, folder: Path) -> Path:
    """`folder/name.{key,crt}` and `folder/ca.crt`; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    issued = authority.issue(name)
    write_private(folder / f"{name}.key", issued.key)
    (folder / f"{name}.crt").write_bytes(issued.cert)
    (folder / "ca.crt").write_bytes(authority.cert_pem)
    return folder


class Client:
    """A paho client connected with a certificate; records messages and disconnects."""

    def __init__(self, options: BrokerOptions, name: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.connects: list[str] = []
        self.disconnects: list[str] = []
        self.subscribed = threading.Event()
        self.client = make_client(options, f"test-{name}-{uuid.uuid4().hex[:6]}")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.on_connect = lambda c, u, f, rc, p: self.connects.append(str(rc))
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(str(rc))
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect(options.host, options.port)
        self.client.loop_start()

    def wait_connected(self) -> None:
        wait_until(lambda: self.connects, 20, message="no CONNACK")
        assert self.connects[0] == "Success", self.connects

    def subscribe(self, *topics: str) -> None:
        self.subscribed.clear()
        self.client.subscribe([(t, 1) for t in topics])
        assert self.subscribed.wait(10), "no SUBACK"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def attempt(self, topic: str, payload: bytes) -> None:
        """Publish where the broker will deny it, then wait until connected again:
        Mosquitto 2.0.11 answers a denied QoS 1 PUBLISH with an MQTT 5 reason code
        that paho's MQTT 3.1.1 parser rejects, so the client drops and reconnects."""
        before = len(self.connects)
        self.client.publish(topic, payload, qos=1)
        wait_until(
            lambda: len(self.connects) > before and self.client.is_connected(),
            20,
            message="the client did not reconnect",
        )

    def received(self, topic: str) -> list[bytes]:
        return [p for t, p in list(self.messages) if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class SecuredFleet:
    base: Path
    repo: FleetRepo
    ca_dir: Path
    authority: Authority
    broker: GeneratedMosquitto
    certs: dict[str, Path]
    clients: list[Client] = field(default_factory=list)

    def options(self, name: str | None, *, folder: Path | None = None) -> BrokerOptions:
        """TLS options for the certificate `name` (None: TLS without a client certificate)."""
        ca = str(self.ca_dir / "ca.crt")
        if name is None:
            return BrokerOptions(host="127.0.0.1", port=self.broker.port, tls=True, ca_file=ca)
        where = folder or self.certs[name]
        return BrokerOptions(
            host="127.0.0.1",
            port=self.broker.port,
            tls=True,
            ca_file=ca,
            cert_file=str(where / f"{name}.crt"),
            key_file=str(where / f"{name}.key"),
        )

    def client(self, name: str) -> Client:
        client = Client(self.options(name), name)
        self.clients.append(client)
        client.wait_connected()
        return client


def refused(options: BrokerOptions) -> str:
    """Why the broker refused a connection with `options` (fails if it accepted one)."""
    client = make_client(options, f"test-stranger-{uuid.uuid4().hex[:6]}")
    outcome: list[str] = []
    client.on_connect = lambda c, u, f, rc, p: outcome.append(f"CONNACK {rc}")
    try:
        client.connect(options.host, options.port)
        for _ in range(100):
            client.loop(0.05)
            if outcome:
                break
    except (ssl.SSLError, OSError) as exc:
        return f"TLS: {exc}"
    finally:
        client.disconnect()
    if outcome == ["CONNACK Success"]:
        raise AssertionError("the broker accepted the connection")
    return outcome[0] if outcome else "connection closed"


def broker_config(repo: Path, ca_dir: Path, out: Path, port: int, *extra: str) -> int:
    return shoal(
        [
            "broker-config",
            *("--mosquitto", str(out), str(repo), "--ca-dir", str(ca_dir)),
            *("--port", str(port), "--bind", "127.0.0.1", "--san", "127.0.0.1", *extra),
        ]
    )


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SecuredFleet]:
    ca_dir = tmp_path / "ca"
    authority = Authority.init(ca_dir, "test fleet CA")
    repo = FleetRepo.create(tmp_path, NODES)
    port = free_port()
    assert broker_config(repo.work, ca_dir, tmp_path / "mosquitto", port) == 0
    certs = {
        name: issue_files(authority, name, tmp_path / "certs" / name)
        for name in (*NODES, CONTROLLER_NAME)
    }
    broker = GeneratedMosquitto(tmp_path / "mosquitto", port).start()
    fleet = SecuredFleet(tmp_path, repo, ca_dir, authority, broker, certs)
    try:
        yield fleet
    finally:
        for client in fleet.clients:
            client.close()
        broker.stop()


def other_ca_certs(base: Path, name: str) -> Path:
    stranger = Authority.init(base / "other-ca", "another CA")
    return issue_files(stranger, name, base / "other-certs")


def no_message(client: Client, topic: str, proof: Any) -> None:
    """`proof()` becomes true (a later message that did arrive) and nothing came on `topic`."""
    wait_until(proof, 20, message="the control message never arrived")
    assert client.received(topic) == []
