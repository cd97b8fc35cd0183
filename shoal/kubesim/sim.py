"""`KubeSim`: a Kubernetes API server stand-in for tests and the demo.

Starts the HTTP server (`server.py`) over a fresh store (`store.py`) in a
background thread, writes a kubeconfig for it, and offers direct access to the
store for assertions and for playing "someone else" (deleting or editing objects
behind a client's back, rejecting manifests, holding rollouts). The edge agent's
tests and `shoal demo` (one per simulated node) use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from shoal.kubesim.catalog import Catalog, Kind
from shoal.kubesim.errors import ApiError
from shoal.kubesim.server import ApiServer, RequestLog
from shoal.kubesim.store import Store

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

# The field manager `modify` writes as: a person editing the object by hand.
DRIFT_MANAGER = "kubectl-edit"


class KubeSim:
    """A Kubernetes API server on HTTP, faithful where shoal's edge depends on it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        rollout_seconds: float = 0.2,
        version: str = "v1.30.0",
    ) -> None:
        self.host = host
        self.port = port
        self.version = version
        self.catalog = Catalog()
        self.store = Store(self.catalog, rollout_seconds)
        self._server: ApiServer | None = None
        self._log = RequestLog()
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> KubeSim:
        """Serve (again: after `stop`, on the same port, with the same objects)."""
        if self._server is not None:
            return self
        self.store.open()
        self._server = ApiServer(
            (self.host, self.port), self.store, self.catalog, self.version, self._log
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.05,),
            name=f"kubesim:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: the port refuses connections and open ones are cut. Objects stay."""
        server, self._server = self._server, None
        self.store.close()
        if server is not None:
            server.shutdown()
            server.server_close()
            server.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> KubeSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("KubeSim is not started")
        return f"http://{self.host}:{self.port}"

    # --- clients ------------------------------------------------------------------------

    def write_kubeconfig(self, path: Path, context: str = "kubesim") -> Path:
        """Write a kubeconfig for `kubernetes.config.load_kube_config(config_file=path)`."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": "kubesim"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
            "preferences": {},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".tmp")
        partial.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        partial.replace(path)  # whole or absent: another process may be waiting for it
        return path

    def api_client(self) -> ApiClient:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every request served so far, as (method, path without query)."""
        return self._log.snapshot()

    # --- direct store access, for assertions and "someone else" -------------------------

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return self.store.get(self._kind(api_version, kind), namespace, name)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        items, _ = self.store.list(self._kind(api_version, kind), namespace, label_selector)
        return items

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        try:
            self.store.delete(self._kind(api_version, kind), namespace, name)
        except ApiError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    def modify(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        mutate: Callable[[dict[str, Any]], None],
    ) -> dict[str, Any]:
        """Change an object as someone else would (field manager `kubectl-edit`)."""
        return self.store.modify(
            self._kind(api_version, kind), namespace, name, mutate, DRIFT_MANAGER
        )

    def reject(self, predicate: Callable[[dict[str, Any]], str | None]) -> None:
        """Refuse writes of objects for which `predicate` returns a message (422 Invalid)."""
        self.store.add_rejecter(predicate)

    def hold_rollout(self, namespace: str, name: str, held: bool = True) -> None:
        """Keep the workload `namespace/name` rolling out (never ready) until released."""
        self.store.hold(namespace, name, held)

    def _kind(self, api_version: str, kind: str) -> Kind:
        found = self.catalog.by_kind(api_version, kind)
        if found is None:
            raise ValueError(f"kubesim does not serve {api_version} {kind}")
        return found
