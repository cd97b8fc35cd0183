"""Connecting 1,000 clients with mutual TLS to the generated Mosquitto config, against
1,000 plain MQTT connections to a plain Mosquitto.

    python -m bench.tls_connect [--clients 1000]

Baseline: a Mosquitto from tests.support (no TLS, anonymous). shoal: a Mosquitto run
from `shoal broker-config`'s output (TLS 1.2+, client certificate required, the
dynamic-security plugin), each client presenting a fleet-CA certificate. Clients
connect one after another, each waiting for its CONNACK, then disconnecting (paho's
select() loop cannot hold 1,000 sockets open in one process: FD_SETSIZE is 1024). Prints total and per-connection time and the ratio.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from controller.identity.authority import Authority
from tests.identity.conftest import broker_config, issue_files
from tests.support.controller import FleetRepo
from tests.support.mosquitto import GeneratedMosquitto, Mosquitto, free_port
from transport import BrokerOptions, make_client

SMALL_ARGS = ["--clients", "50"]


def connect_all(options: BrokerOptions, count: int) -> tuple[float, list[mqtt.Client]]:
    clients = []
    started = time.perf_counter()
    for _ in range(count):
        client = make_client(options, f"bench-{uuid.uuid4().hex[:10]}")
        acked: list[object] = []
        client.on_connect = lambda c, u, f, rc, p, acked=acked: acked.append(rc)
        client.connect(options.host, options.port)
        deadline = time.monotonic() + 20
        while not acked:
            if client.loop(0.05) != mqtt.MQTT_ERR_SUCCESS or time.monotonic() > deadline:
                raise RuntimeError(f"client {len(clients) + 1} got no CONNACK")
        assert str(acked[0]) == "Success", acked
        client.disconnect()
        client.loop(0.01)
        client._reset_sockets()  # paho keeps the socket and a wake-up socket pair per client
        clients.append(client)
    return time.perf_counter() - started, clients


def close(clients: list[mqtt.Client]) -> None:
    for client in clients:
        client.disconnect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tls_connect")
    parser.add_argument("--clients", type=int, default=1000)
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.clients + 256)), hard))
    base = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    try:
        plain = Mosquitto(
            base / "plain", extra_config=f"max_connections {args.clients + 50}"
        ).start()
        try:
            plain_seconds, clients = connect_all(BrokerOptions(port=plain.port), args.clients)
            close(clients)
        finally:
            plain.stop()

        authority = Authority.init(base / "ca", "bench CA")
        repo = FleetRepo.create(base, {"node-a": {}})
        port = free_port()
        assert broker_config(repo.work, base / "ca", base / "secured", port) == 0
        certs = issue_files(authority, "node-a", base / "certs")
        secured = GeneratedMosquitto(base / "secured", port).start()
        try:
            options = BrokerOptions(
                host="127.0.0.1",
                port=port,
                tls=True,
                ca_file=str(base / "ca" / "ca.crt"),
                cert_file=str(certs / "node-a.crt"),
                key_file=str(certs / "node-a.key"),
            )
            tls_seconds, clients = connect_all(options, args.clients)
            close(clients)
        finally:
            secured.stop()
        n = args.clients
        print(
            f"baseline: {n} plain MQTT connections: {plain_seconds:.2f}s ({1000 * plain_seconds / n:.2f} ms each)"
        )
        print(
            f"shoal: {n} mutual-TLS connections: {tls_seconds:.2f}s ({1000 * tls_seconds / n:.2f} ms each)"
        )
        print(f"ratio: {tls_seconds / plain_seconds:.1f}x")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
