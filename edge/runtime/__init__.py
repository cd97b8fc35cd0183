"""Runtimes: where the agent puts a Desired app's objects.

The reconciler (edge/reconciler.py) talks to a `Runtime` and nothing else: plan an
app's object references, apply them, read them back, delete the ones that left.
`runtime/kubernetes.py` is the real one; unit tests use a fake that keeps objects
in a dict. Health is judged from what `get` returns (edge/health.py), so a
runtime knows nothing of readiness.

Errors: a runtime raises `RuntimeUnavailable` when it cannot reach its cluster at
all (the reconciler marks the whole document Failed and retries later); a problem
with one object is returned in its `Applied.error` and never stops the others.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shadow import DesiredApp, shoal_labels
from shadow.errors import Unavailable

FIELD_MANAGER = "shoal"


class RuntimeUnavailable(Unavailable):
    """The cluster cannot be reached; nothing was applied. Retried on the next reconcile."""


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object: enough to get, apply or delete it again (the inventory's entries)."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    def to_dict(self) -> dict[str, str]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectRef:
        return cls(
            str(data["apiVersion"]),
            str(data["kind"]),
            str(data.get("namespace") or ""),
            str(data["name"]),
        )


@dataclass(frozen=True)
class Fingerprint:
    """What an object looked like right after shoal applied it; a change means drift.

    Objects with a `generation` (workloads, custom resources) are compared by it, so
    status updates by controllers do not count; others by `resourceVersion`.
    """

    resource_version: str
    generation: int | None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Fingerprint:
        meta = obj.get("metadata") or {}
        generation = meta.get("generation")
        return cls(
            str(meta.get("resourceVersion") or ""),
            generation if isinstance(generation, int) else None,
        )

    def changed_in(self, live: Mapping[str, Any]) -> bool:
        now = Fingerprint.of(live)
        if self.generation is not None and now.generation is not None:
            return now.generation != self.generation
        return now.resource_version != self.resource_version


@dataclass(frozen=True)
class Applied:
    """The outcome of applying one object: a fingerprint, or the reason it failed."""

    ref: ObjectRef
    error: str = ""
    fingerprint: Fingerprint | None = None
    # Why it failed, for machines: `ApplyFailed` (the API server said no), or the
    # reconciler's refusals before any request: `InvalidName`, `PolicyDenied`, `NotOwned`.
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class Runtime(Protocol):
    """What the reconciler needs from a cluster."""

    def plan(self, app: str, desired: DesiredApp) -> list[ObjectRef]:
        """The references `apply` would write, in apply order, without writing."""
        ...

    def apply(
        self, app: str, desired: DesiredApp, only: Collection[ObjectRef] | None = None
    ) -> list[Applied]:
        """Apply the app's objects (or just `only`), labelled for shoal, one result each."""
        ...

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        ...

    def delete(self, ref: ObjectRef, uid: str = "") -> str:
        """Delete an object; "" when it is gone (or was already), else the reason.

        With `uid`, only that very object: one deleted and re-created by someone else
        meanwhile (another uid) is left alone, and that counts as gone."""
        ...

    def server_version(self) -> str:
        """The cluster's version (`v1.31.2`), "" when unknown."""
        ...


def labelled(manifest: Mapping[str, Any], app: str) -> dict[str, Any]:
    """A copy of `manifest` carrying shoal's labels (the controller adds them too)."""
    body = dict(manifest)
    metadata = dict(body.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **shoal_labels(app)}
    body["metadata"] = metadata
    return body


__all__ = [
    "FIELD_MANAGER",
    "Applied",
    "Fingerprint",
    "ObjectRef",
    "Runtime",
    "RuntimeUnavailable",
    "labelled",
]
