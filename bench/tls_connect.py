"""Connecting 1,000 clients with mutual TLS to the generated Mosquitto config, against
1,000 plain MQTT connections to a plain Mosquitto.

    python -m bench.tls_connect [--clients 1000]

Baseline: a Mosquitto from tests.support (no TLS, anonymous). shoal: a Mosquitto run
from `shoal broker-config`'s output (TLS 1.2+, client certificate required, the
dynamic-security plugin), each client presenting a fleet-CA certificate. Clients
connect one after another over raw sockets (TCP_NODELAY, one SSL context as a node
has), each sending an MQTT CONNECT and waiting for its CONNACK, and all stay connected
until the end, as a fleet's nodes do. (paho is left out: its select() loop cannot hold
1,000 sockets in one process, and its per-client setup would be measured too.) Prints total and per-connection time and the ratio.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import socket
import ssl
import tempfile
import time
import uuid
from pathlib import Path

from controller.identity.authority import Authority
from tests.identity.conftest import broker_config, issue_files
from tests.support.controller import FleetRepo
from tests.support.mosquitto import GeneratedMosquitto, Mosquitto, free_port

SMALL_ARGS = ["--clients", "50"]


def connect_packet(client_id: str) -> bytes:
    """An MQTT 3.1.1 CONNECT (clean session, keepalive 600 s) for `client_id`."""
    ident = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x02\x58" + len(ident).to_bytes(2, "big") + ident
    return b"\x10" + bytes([len(body)]) + body


def connect_all(
    port: int, count: int, context: ssl.SSLContext | None
) -> tuple[float, list[socket.socket]]:
    """Open `count` connections, each until its CONNACK; all stay open until the end."""
    sockets = []
    started = time.perf_counter()
    for _ in range(count):
        sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=20)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        sock.sendall(connect_packet(f"bench-{uuid.uuid4().hex[:12]}"))
        ack = sock.recv(4)
        if ack[:1] != b"\x20" or ack[3:4] != b"\x00":
            raise RuntimeError(f"connection {len(sockets) + 1} refused: {ack!r}")
        sockets.append(sock)
    return time.perf_counter() - started, sockets


def close(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


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
            plain_seconds, clients = connect_all(plain.port, args.clients, None)
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
            context = ssl.create_default_context(cafile=str(base / "ca" / "ca.crt"))
            context.load_cert_chain(certs / "node-a.crt", certs / "node-a.key")
            tls_seconds, clients = connect_all(port, args.clients, context)
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
