"""The HTTP face of the stand-in: routes API-server URLs to the store.

`ApiServer` is a `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive (the
official client pools connections). `Handler` parses a request into discovery or
a resource route (group, version, plural, namespace, name, subresource), calls
`Store`, and answers JSON: the object, a `<Kind>List`, or a `Status` with the
real server's HTTP code. Every request is recorded as (method, path) for tests
that assert what a client did (e.g. no writes on a no-op).
"""

from __future__ import annotations

import base64
import contextlib
import json
import select
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from shoal.kubesim import discovery, errors, tables
from shoal.kubesim.catalog import Catalog, Kind
from shoal.kubesim.errors import ApiError
from shoal.kubesim.patches import json_patch, merge_patch
from shoal.kubesim.store import APPLY, DEFAULT_MANAGER, JSON_PATCH, MERGE, STRATEGIC, Store

# Deleting these answers the object (they pass through a terminating state on a real
# server); every other kind answers a Status of Success.
_DELETE_RETURNS_OBJECT = {"Pod", "Namespace"}


PATCH_TYPES = (APPLY, MERGE, STRATEGIC, JSON_PATCH)
# libyaml's safe loader where PyYAML has it: the same documents, read in C.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# How long a watch without timeoutSeconds lasts (the real server picks 30-60 minutes).
WATCH_SECONDS = 1800.0


@dataclass
class Route:
    """A resource URL, resolved against the catalogue."""

    kind: Kind
    namespace: str | None
    name: str | None
    subresource: str | None


class RequestLog:
    """Every request served, as (method, path without query); kept across restarts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[tuple[str, str]] = []

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._seen.append((method, path))

    def snapshot(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._seen)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        catalog: Catalog,
        version: str,
        log: RequestLog,
    ) -> None:
        super().__init__(address, Handler)
        self.store = store
        self.catalog = catalog
        self.version = version
        self.log = log
        self.address_text = f"{address[0]}:{self.server_address[1]}"
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is normal (and so is our cutting it off in `stop`)."""
        if isinstance(sys.exc_info()[1], ConnectionError | OSError):
            return
        super().handle_error(request, client_address)

    def opened(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def drop_connections(self) -> None:
        """Cut every open connection, keep-alive ones included: a stopped server must not
        go on answering through a client's pooled connection."""
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms ACK waits
    server: ApiServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read sim.requests
        pass

    def setup(self) -> None:
        super().setup()
        self.server.opened(self.connection)

    def finish(self) -> None:
        self.server.closed(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- dispatch ---------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        self.server.log.record(method, path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = self._read_body()
        try:
            code, doc = self._dispatch(method, path, query, raw)
        except ApiError as exc:
            code, doc = exc.code, exc.status()
        except Exception as exc:  # a bug in the stand-in: answer like a server would
            code, doc = 500, ApiError(500, "InternalError", f"kubesim: {exc!r}").status()
        self._send(code, doc)

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        found = self._discovery(parts)
        if found is not None:
            if method != "GET":
                raise errors.method_not_allowed(method)
            return found
        route = self._route(parts)
        if route is None:
            raise errors.path_not_found(path)
        if method == "DELETE" and raw:
            query = {**self._delete_options(raw), **query}
        if method != "GET" and query.get("dryRun"):
            if query["dryRun"] != "All":
                raise errors.bad_request(
                    f'unsupported dryRun value "{query["dryRun"]}": only "All"'
                )
            with self.server.store.dry_run():
                return self._resource(method, route, query, raw)
        return self._resource(method, route, query, raw)

    def _discovery(self, parts: list[str]) -> tuple[int, Any] | None:
        catalog = self.server.catalog
        doc: Any = None
        if parts == ["version"]:
            doc = discovery.version_info(self.server.version)
        elif parts in (["healthz"], ["readyz"], ["livez"]):
            doc = "ok"
        elif parts == ["api"]:
            doc = discovery.core_versions(self.server.address_text)
        elif parts == ["api", "v1"]:
            doc = discovery.resource_list(catalog, "", "v1")
        elif parts == ["apis"]:
            doc = discovery.group_list(catalog)
        elif len(parts) == 2 and parts[0] == "apis":
            doc = discovery.group(catalog, parts[1])
            if doc is None:
                raise errors.path_not_found("/" + "/".join(parts))
        elif len(parts) == 3 and parts[0] == "apis":
            doc = discovery.resource_list(catalog, parts[1], parts[2])
            if doc is None:
                raise errors.path_not_found("/" + "/".join(parts))
        return (200, doc) if doc is not None else None

    def _route(self, parts: list[str]) -> Route | None:
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        catalog = self.server.catalog
        if len(rest) >= 3 and rest[0] == "namespaces":
            kind = catalog.by_plural(group, version, rest[2])
            if kind is not None and kind.namespaced and len(rest) <= 5:
                return Route(
                    kind,
                    rest[1],
                    rest[3] if len(rest) > 3 else None,
                    rest[4] if len(rest) > 4 else None,
                )
        if not rest or len(rest) > 3:
            return None
        kind = catalog.by_plural(group, version, rest[0])
        if kind is None:
            return None
        name = rest[1] if len(rest) > 1 else None
        if kind.namespaced and name is not None:
            return None  # a namespaced kind has no cluster-wide item URL
        return Route(kind, None, name, rest[2] if len(rest) > 2 else None)

    # --- resources ----------------------------------------------------------------------

    def _resource(
        self, method: str, route: Route, query: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        store, kind = self.server.store, route.kind
        if route.subresource is not None and route.subresource not in kind.subresources:
            raise errors.path_not_found(self.path)
        if route.name is None:
            return self._collection(method, route, query, raw)
        manager = query.get("fieldManager") or None
        if route.subresource == "scale":
            return self._scale(method, route, raw, manager or self._agent())
        if method == "GET":
            obj = store.get(kind, route.namespace, route.name)
            if route.subresource is None and self._wants_table():
                return 200, tables.table(kind.kind, [obj], obj["metadata"]["resourceVersion"])
            return 200, obj
        if method == "PUT":
            body = self._json(raw)
            return 200, store.replace(
                kind, route.namespace, route.name, body, manager or self._agent(), route.subresource
            )
        if method == "PATCH":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type not in PATCH_TYPES:
                raise errors.unsupported_media_type(content_type)
            body = self._yaml(raw) if content_type == APPLY else self._json(raw)
            force = query.get("force", "").lower() == "true"
            if content_type != APPLY and manager is None:
                manager = self._agent()
            obj, created = store.patch(
                kind,
                route.namespace,
                route.name,
                content_type,
                body,
                manager,
                force,
                route.subresource,
            )
            return (201 if created else 200), obj
        if method == "DELETE":
            preconditions = {k[14:]: v for k, v in query.items() if k.startswith("preconditions.")}
            obj = store.delete(kind, route.namespace, route.name, preconditions)
            foreground = query.get("propagationPolicy") == "Foreground"
            pending = bool(obj["metadata"].get("finalizers"))  # still there until they go
            if kind.kind in _DELETE_RETURNS_OBJECT or foreground or pending:
                return 200, obj
            return 200, self._success(kind, obj)
        raise errors.method_not_allowed(method)

    def _scale(self, method: str, route: Route, raw: bytes, manager: str) -> tuple[int, Any]:
        store, kind, name = self.server.store, route.kind, route.name or ""
        if method == "GET":
            return 200, store.scale(kind, route.namespace, name)
        if method == "PUT":
            body = self._json(raw)
            return 200, store.rescale(kind, route.namespace, name, lambda _: body, manager)
        if method == "PATCH":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type not in PATCH_TYPES:
                raise errors.unsupported_media_type(content_type)
            body = self._yaml(raw) if content_type == APPLY else self._json(raw)
            # Merge, strategic and apply all come down to setting spec.replicas here.
            patch = json_patch if content_type == JSON_PATCH else merge_patch
            return 200, store.rescale(
                kind, route.namespace, name, lambda scale: patch(scale, body), manager
            )
        raise errors.method_not_allowed(method)

    def _collection(
        self, method: str, route: Route, query: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        store, kind = self.server.store, route.kind
        if method == "GET":
            if query.get("watch", "").lower() in ("true", "1"):
                return 200, store.watch(
                    kind,
                    route.namespace,
                    query.get("labelSelector"),
                    query.get("fieldSelector"),
                    query.get("resourceVersion"),
                    self._seconds(query.get("timeoutSeconds")),
                    query.get("sendInitialEvents", "").lower() == "true",
                )
            items, revision = store.list(
                kind, route.namespace, query.get("labelSelector"), query.get("fieldSelector")
            )
            listing = self._list(kind, items, revision, query)
            if self._wants_table():
                rendered = tables.table(kind.kind, listing["items"], revision)
                rendered["metadata"] = listing["metadata"]
                return 200, rendered
            return 200, listing
        if method == "POST":
            body = self._json(raw)
            manager = query.get("fieldManager") or self._agent()
            return 201, store.create(kind, route.namespace, body, manager)
        if method == "DELETE":
            items = store.delete_collection(
                kind, route.namespace, query.get("labelSelector"), query.get("fieldSelector")
            )
            return 200, self._list(kind, items, store.resource_version, {})
        raise errors.method_not_allowed(method)

    def _list(
        self, kind: Kind, items: list[dict[str, Any]], revision: str, query: dict[str, str]
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"resourceVersion": revision}
        start = 0
        if query.get("continue"):
            try:
                start = int(base64.urlsafe_b64decode(query["continue"].encode()).decode())
            except ValueError:
                raise errors.bad_request("continue key is not valid") from None
        limit = int(query["limit"]) if query.get("limit", "").isdigit() else 0
        page = items[start : start + limit] if limit else items[start:]
        if limit and start + limit < len(items):
            metadata["continue"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            metadata["remainingItemCount"] = len(items) - start - limit
        for item in page:  # the real server leaves TypeMeta off list items
            item.pop("apiVersion", None)
            item.pop("kind", None)
        return {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": metadata,
            "items": page,
        }

    def _success(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        details = {
            "name": obj["metadata"]["name"],
            "kind": kind.plural,
            "uid": obj["metadata"]["uid"],
        }
        if kind.group:
            details["group"] = kind.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    # --- wire -------------------------------------------------------------------------

    def _wants_table(self) -> bool:
        return tables.wants_table(self.headers.get("Accept") or "")

    def _seconds(self, text: str | None) -> float:
        if not text:
            return WATCH_SECONDS
        if not text.isdigit():
            raise errors.bad_request(f'invalid timeoutSeconds "{text}"')
        return float(text)

    def _delete_options(self, raw: bytes) -> dict[str, str]:
        """DeleteOptions sent as a body (the typed client's `body=V1DeleteOptions(...)`),
        as the query parameters they stand for."""
        options = self._json(raw)
        if not isinstance(options, dict):
            return {}
        found = {}
        if options.get("propagationPolicy"):
            found["propagationPolicy"] = str(options["propagationPolicy"])
        if options.get("dryRun"):
            found["dryRun"] = "All" if "All" in options["dryRun"] else str(options["dryRun"])
        preconditions = options.get("preconditions")
        for field, value in (preconditions if isinstance(preconditions, dict) else {}).items():
            if value:  # checked by the store under its lock, as the real server does
                found[f"preconditions.{field}"] = str(value)
        return found

    def _agent(self) -> str:
        """The manager name the real server derives from the User-Agent."""
        agent = self.headers.get("User-Agent") or ""
        return agent.split("/")[0] or DEFAULT_MANAGER

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _json(self, raw: bytes) -> Any:
        try:
            return json.loads(raw or b"null")
        except ValueError as exc:
            raise errors.bad_request(f"the body of the request is not valid JSON: {exc}") from None

    def _yaml(self, raw: bytes) -> Any:
        if raw[:1] == b"{":  # JSON (what clients send as apply YAML) is read as JSON
            with contextlib.suppress(ValueError):
                return json.loads(raw)
        try:
            return yaml.load(raw.decode("utf-8"), Loader=_YAML_LOADER) if raw else None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from None

    def _stream(self, events: Iterator[dict[str, Any] | None]) -> None:
        """A watch: one JSON event per line, chunked, until it ends or the client leaves."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                if event is None:
                    if self._client_left():
                        break
                    continue
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%X\r\n%s\r\n" % (len(line), line))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    def _client_left(self) -> bool:
        """True when the client closed its end (a watch consumer that stopped reading)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _send(self, code: int, doc: Any) -> None:
        if isinstance(doc, Iterator):
            self._stream(doc)
            return
        if isinstance(doc, str):
            payload, content_type = doc.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(doc).encode(), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
