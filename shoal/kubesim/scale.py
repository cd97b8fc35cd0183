"""The `scale` subresource of workloads: read and written as an autoscaling/v1 Scale.

A part of `store.Store`, for `kubectl scale` and the client's `*_namespaced_*_scale`
calls: a Scale shows spec.replicas and the status' replicas and selector; writing one
changes only the workload's spec.replicas.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from shoal.kubesim import errors, ownership
from shoal.kubesim.catalog import Kind
from shoal.kubesim.clone import clone
from shoal.kubesim.events import Key


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: metadata[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in metadata
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


class ScaleSubresource:
    """The scale side of `store.Store`."""

    if TYPE_CHECKING:  # the store's steps a write through the Scale takes

        def _locked(self) -> AbstractContextManager[None]: ...
        def _key(self, kind: Kind, namespace: str | None, name: str) -> Key: ...
        def _existing(self, kind: Kind, key: Key, name: str) -> dict[str, Any]: ...
        def _update(
            self,
            kind: Kind,
            key: Key,
            old: dict[str, Any],
            new: dict[str, Any],
            owners: ownership.Owners,
            touched: set[tuple[str, str]],
            admit: bool = True,
        ) -> dict[str, Any]: ...

    def scale(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        """The object's `scale` subresource, an autoscaling/v1 Scale."""
        with self._locked():
            obj = self._existing(kind, self._key(kind, namespace, name), name)
            return scale_of(obj)

    def rescale(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        manager: str,
    ) -> dict[str, Any]:
        """Write through `scale`: `change` turns the current Scale into the wanted one;
        only its spec.replicas is taken."""
        with self._locked():
            key = self._key(kind, namespace, name)
            old = self._existing(kind, key, name)
            wanted = change(scale_of(old))
            replicas = (wanted.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid(
                    kind,
                    name,
                    [
                        (
                            "spec.replicas",
                            "FieldValueInvalid",
                            f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                        )
                    ],
                )
            new = clone(old)
            new.setdefault("spec", {})["replicas"] = replicas
            owners = ownership.record_update(old, new, manager)
            return scale_of(self._update(kind, key, old, new, owners, {(manager, "Update")}))
