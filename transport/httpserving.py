"""The small HTTP endpoint both sides serve: the controller's `--http` and the edge's.

`controller.service.http` (healthz, metrics, webhook, dashboard pages) and `edge.http`
(healthz, metrics) each write a `ReplyHandler` subclass with their routes; this module
parses `--http [HOST]:PORT`, runs a stdlib `ThreadingHTTPServer` in a daemon thread
(`HttpEndpoint`), and gives handlers one way to answer (`reply`, `reply_json`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shadow.errors import UsageError

log = logging.getLogger(__name__)

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text format


class HttpAddressError(UsageError, ValueError):
    """`--http` is not `[HOST]:PORT`, or nothing can listen there (choose another: exit 2)."""


def parse_address(text: str, example: str = ":8080") -> tuple[str, int]:
    """`:8080` → ("0.0.0.0", 8080); `127.0.0.1:8080`; `8080`; `[::1]:8080`."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise HttpAddressError(f"--http {text!r}: expected [HOST]:PORT, e.g. {example}") from None
    if not 0 <= number <= 65535:
        raise HttpAddressError(f"--http {text!r}: port out of range")
    return (host.strip("[]") or "0.0.0.0", number)


class ReplyHandler(BaseHTTPRequestHandler):
    """A request handler that logs at debug level and answers in one call."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status: int, value: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(value, indent=2).encode() + b"\n"
        self.reply(status, body, "application/json", headers)


class HttpEndpoint:
    """`start()` / `stop()` a threading HTTP server; `port` is the port it listens on."""

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], name: str
    ) -> None:
        self.name = name
        try:
            self._server = ThreadingHTTPServer(address, handler)
        except OSError as exc:
            host, port = address
            raise HttpAddressError(f"cannot serve HTTP on {host}:{port}: {exc.strerror}") from exc
        self._server.daemon_threads = True
        # A connection reset between select() and accept() would block a blocking
        # accept() for good, and shutdown() with it: accept() gives up after a second.
        self._server.socket.settimeout(1.0)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=self.name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()
