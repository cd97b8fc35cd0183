"""Namespaces' life: the system ones, what a new one gets, and how a deleted one ends.

A part of `store.Store`. The store starts with the `SYSTEM_NAMESPACES`; every new
namespace gets what the namespace controllers add (a `default` ServiceAccount and the
`kube-root-ca.crt` ConfigMap); a deleted namespace turns Terminating, refuses new
content, and goes away with everything in it `rollout_seconds` later.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from shoal.kubesim import errors
from shoal.kubesim.catalog import Catalog, Kind
from shoal.kubesim.clone import clone
from shoal.kubesim.events import Key

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class NamespaceLifecycle:
    """The namespace side of `store.Store`; its state is set by `Store.__init__`."""

    catalog: Catalog
    rollout_seconds: float
    _objects: dict[Key, dict[str, Any]]
    _terminating: dict[str, float]  # namespace -> when it is gone (monotonic)

    if TYPE_CHECKING:  # the store's verbs and steps

        def create(
            self, kind: Kind, namespace: str | None, body: Any, manager: str
        ) -> dict[str, Any]: ...
        def _key(self, kind: Kind, namespace: str | None, name: str) -> Key: ...
        def _now(self) -> str: ...
        def _next_revision(self) -> str: ...
        def _record(self, event_type: str, key: Key, obj: dict[str, Any]) -> None: ...
        def _remove(self, key: Key) -> dict[str, Any]: ...

    def _populate_namespace(self, namespace: str) -> None:
        """What the namespace controllers add to every new namespace."""
        for api_version, kind_name, body in (
            ("v1", "ServiceAccount", {"metadata": {"name": "default"}}),
            (
                "v1",
                "ConfigMap",
                {
                    "metadata": {"name": "kube-root-ca.crt"},
                    "data": {
                        "ca.crt": "-----BEGIN CERTIFICATE-----\nkubesim\n-----END CERTIFICATE-----\n"
                    },
                },
            ),
        ):
            kind = self.catalog.by_kind(api_version, kind_name)
            if (
                kind is not None
                and self._key(kind, namespace, body["metadata"]["name"]) not in self._objects
            ):
                self.create(kind, namespace, body, "kube-controller-manager")

    def _terminate(self, key: Key, namespace: dict[str, Any]) -> dict[str, Any]:
        name = key[3]
        if name in self._terminating:
            raise errors.conflict(
                self.catalog.namespace_kind(),
                name,
                "The system is ensuring all content is removed from this namespace.  Upon "
                "completion, this namespace will automatically be purged by the system.",
            )
        self._terminating[name] = time.monotonic() + self.rollout_seconds
        metadata = {
            **namespace["metadata"],
            "deletionTimestamp": self._now(),
            "resourceVersion": self._next_revision(),
        }
        terminating = {
            **namespace,
            "metadata": metadata,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating"},
        }
        self._objects[key] = terminating
        self._record("MODIFIED", key, terminating)
        answer = clone(terminating)
        self._finish_terminations()
        return answer

    def _finish_terminations(self) -> None:
        now = time.monotonic()
        for name, deadline in list(self._terminating.items()):
            if deadline > now:
                continue
            del self._terminating[name]
            for key in [k for k in self._objects if k[2] == name]:
                self._remove(key)
            self._remove(("", "namespaces", "", name))
