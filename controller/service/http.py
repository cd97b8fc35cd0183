"""The controller's HTTP endpoint: `/healthz`, `/metrics`, `POST /webhook`, and the
pages of whoever is handed in as `Endpoints.pages` (the dashboard, for every other GET).

The server and the address parsing are `transport.httpserving`'s, shared with the
edge; `Controller` starts it when `--http [HOST]:PORT` is given. It only reads the controller's state through the
callables it is given and triggers reconciles; it never reconciles itself. With a
token (`--http-token`), everything but `/healthz` and `/webhook` (which has its own
secret) needs `Authorization: Bearer <token>` or HTTP basic auth with the token as
password.
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from controller.service.webhook import check_push
from transport.httpserving import (
    METRICS_TYPE,
    HttpEndpoint,
    ReplyHandler,
)

log = logging.getLogger(__name__)

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


@dataclass(frozen=True)
class Reply:
    """One answer of a page handler."""

    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


# GET path (with its query string) and request headers (lowercase names) -> the reply;
# None: not a page.
PageHandler = Callable[[str, Mapping[str, str]], Reply | None]


@dataclass
class Endpoints:
    """What the HTTP server serves, as callables into the controller."""

    health: Callable[[], tuple[bool, dict[str, Any]]]
    metrics: Callable[[], str]
    on_push: Callable[[str], None]
    branch: str
    webhook_secret: str | None = None
    pages: PageHandler | None = None
    token: str | None = None  # needed for everything but /healthz and /webhook


def authorized(token: str | None, header: str | None) -> bool:
    """`Authorization: Bearer <token>`, or basic auth whose password is the token."""
    if not token:
        return True
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), token.encode())
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), token.encode())
    return False


class HttpServer(HttpEndpoint):
    def __init__(self, address: tuple[str, int], endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        super().__init__(address, _handler(endpoints), "controller-http")

    def start(self) -> None:
        super().start()
        log.info("HTTP on %s:%d (/healthz, /metrics, POST /webhook)", self.host, self.port)


def _handler(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(ReplyHandler):
        server_version = "shoal-controller"

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            allow: str | None = None,
            headers: Mapping[str, str] | None = None,
        ) -> None:
            extra = {"Allow": allow} if allow is not None else {}
            self.reply(status, body, content_type, {**extra, **(headers or {})})

        def _json(self, status: int, value: Any, allow: str | None = None) -> None:
            self.reply_json(status, value, {"Allow": allow} if allow is not None else None)

        def _refuse(self) -> None:
            self._send(
                401,
                b"401: this endpoint needs the token given to --http-token "
                b"(Authorization: Bearer <token>, or basic auth with it as password)\n",
                "text/plain; charset=utf-8",
                headers={"WWW-Authenticate": 'Basic realm="shoal", charset="UTF-8"'},
            )

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok, body = endpoints.health()
                self._json(200 if ok else 503, body)
                return
            if path == "/webhook":
                self._json(405, {"error": "/webhook takes POST (a push event)"}, allow="POST")
                return
            if not authorized(endpoints.token, self.headers.get("Authorization")):
                self._refuse()
                return
            if path == "/metrics":
                self._send(200, endpoints.metrics().encode(), METRICS_TYPE)
                return
            reply = (
                endpoints.pages(self.path, {k.lower(): v for k, v in self.headers.items()})
                if endpoints.pages
                else None
            )
            if reply is None:
                self._json(404, {"error": f"no such path {path}; try /healthz, /metrics"})
                return
            self._send(reply.status, reply.body, reply.content_type, headers=reply.headers)

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path != "/webhook":
                # The dashboard is read-only: nothing but a push event is ever POSTed.
                self._json(405, {"error": f"{path} takes GET; POST /webhook only"}, allow="GET")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._json(413, {"error": "payload too large"})
                return
            body = self.rfile.read(length)
            result = check_push(
                dict(self.headers.items()), body, endpoints.webhook_secret, endpoints.branch
            )
            if result.status == 401:
                log.warning("webhook from %s refused: %s", self.address_string(), result.reason)
            if result.trigger:
                endpoints.on_push(result.reason)
            self._json(result.status, {"accepted": result.trigger, "reason": result.reason})

    return Handler
