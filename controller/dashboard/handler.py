"""The dashboard's request handler: a URL in, a `Reply` out.

`Dashboard(state)` is the `PageHandler` the controller's HTTP server calls for every
GET that is not `/healthz`, `/metrics` or `/webhook` (controller/service/http.py does
the token check before). Routes: `/`, `/apps/<app>`, `/nodes/<node>`,
`/revisions/<sha>`, `/static/<file>`. A request with `X-Shoal-Partial: 1` (the
page's own script, every second) gets only the live part of the page. Unknown names
get a 404 page with "did you mean", malformed query parameters a 400 naming the
parameter. Read-only: nothing here changes the fleet.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

from controller.dashboard import pages
from controller.dashboard.history import fleet_revision, node_history
from controller.dashboard.layout import page
from controller.dashboard.queries import QueryError, parse_query
from controller.dashboard.snapshot import STATES, Snapshot, Snapshots
from controller.dashboard.source import FleetState
from controller.fleet.explanation import explain_node
from controller.service.http import Reply

log = logging.getLogger(__name__)

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
SHA = re.compile(r"[0-9a-f]{4,40}")
NO_STORE = {"Cache-Control": "no-store"}


class Dashboard:
    """Callable as `(path_and_query, headers) -> Reply`."""

    def __init__(self, state: FleetState) -> None:
        self.state = state
        self.snapshots = Snapshots(state)
        self._static: dict[str, bytes] = {}

    def __call__(self, target: str, headers: Mapping[str, str]) -> Reply:
        started = time.perf_counter()
        parts = urlsplit(target)
        path = unquote(parts.path)
        partial = headers.get("x-shoal-partial") == "1"
        try:
            reply = self._route(path, parts.query, partial)
        except Exception:  # a page must never take the controller's HTTP thread down
            log.exception("dashboard: error while serving %s", path)
            reply = Reply(
                500,
                b"500: the dashboard failed on this page; see the controller's log\n",
                "text/plain; charset=utf-8",
            )
        log.debug("dashboard %s in %.1f ms", path, (time.perf_counter() - started) * 1000)
        return reply

    # --- routing -------------------------------------------------------------------------

    def _route(self, path: str, query_text: str, partial: bool) -> Reply:
        if path.startswith("/static/"):
            return self._static_file(path.removeprefix("/static/"))
        if path in ("", "/"):
            kind, name = "overview", ""
        else:
            kind, _, name = path.strip("/").partition("/")
            if kind not in ("apps", "nodes", "revisions") or not name or "/" in name:
                return self._html(404, pages.not_found("page", path, []), partial)
        try:
            query = parse_query(query_text, STATES)
        except QueryError as exc:
            return self._html(400, pages.bad_request(str(exc), path), partial)
        snap = self.snapshots.get()
        if kind == "overview":
            return self._html(200, pages.overview(snap, query, self.state.rejected()), partial)
        if kind == "apps":
            if name not in snap.apps:
                return self._html(404, pages.not_found("app", name, snap.apps), partial)
            return self._html(200, pages.app_page(snap, name, query), partial)
        if kind == "nodes":
            if name not in snap.by_node:
                return self._html(404, pages.not_found("node", name, snap.nodes), partial)
            return self._html(200, self._node(snap, name), partial)
        return self._revision(snap, name, partial)

    def _node(self, snap: Snapshot, node: str) -> pages.Parts:
        served = self.state.served()
        explanation = None
        desired: dict[str, Any] = {}
        if served is not None and node in served.fleet.nodes:
            explanation = explain_node(served.fleet, served.fleet.nodes[node])
            desired = dict(served.apps.get(node) or {})
        status_dir = self.state.status_dir()
        changes = None
        if self.state.status_branch is not None:
            changes = []
            if status_dir is not None:
                changes = node_history(status_dir, self.state.status_branch, node)
        return pages.node_page(snap, node, explanation, desired, changes)

    def _revision(self, snap: Snapshot, sha: str, partial: bool) -> Reply:
        if not SHA.fullmatch(sha):
            reason = f"{sha!r} is not a commit id (4 to 40 hexadecimal digits)"
            return self._html(400, pages.bad_request(reason, "/"), partial)
        where = self.state.fleet_dir()
        revision = fleet_revision(where, sha) if where is not None else None
        if revision is None:
            return self._html(404, pages.not_found("revision", sha, []), partial)
        return self._html(200, pages.revision_page(revision, snap, self.state.rejected()), partial)

    # --- replies -------------------------------------------------------------------------

    def _html(self, status: int, parts: pages.Parts, partial: bool) -> Reply:
        title, header, body, live = parts
        text = live if partial and status == 200 else page(title, header, body, live)
        return Reply(status, text.encode(), headers=NO_STORE)

    def _static_file(self, name: str) -> Reply:
        suffix = name[name.rfind(".") :] if "." in name else ""
        if "/" in name or suffix not in STATIC_TYPES:
            return Reply(404, b"404: no such static file\n", "text/plain; charset=utf-8")
        if name not in self._static:
            try:
                data = resources.files("controller.dashboard").joinpath("static", name).read_bytes()
            except (FileNotFoundError, OSError):
                return Reply(404, b"404: no such static file\n", "text/plain; charset=utf-8")
            self._static[name] = data
        cache = {"Cache-Control": "public, max-age=3600"}
        return Reply(200, self._static[name], STATIC_TYPES[suffix], cache)
