"""A Runtime that keeps objects in a dict: the unit seam for the reconciler's logic.

Integration tests use the real KubernetesRuntime over HTTP instead.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection
from typing import Any

from edge.runtime import Applied, Fingerprint, ObjectRef, RuntimeUnavailable, labelled
from shadow import DesiredApp

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "CustomResourceDefinition"}


class FakeRuntime:
    def __init__(self) -> None:
        self.objects: dict[ObjectRef, dict[str, Any]] = {}
        self.calls: list[tuple[str, ObjectRef]] = []
        self.reject: Callable[[dict[str, Any]], str | None] = lambda obj: None
        self.down = False
        self._version = 0

    def _ref(self, res: dict[str, Any], app_namespace: str) -> ObjectRef:
        meta = res["metadata"]
        ns = "" if res["kind"] in CLUSTER_SCOPED else meta.get("namespace") or app_namespace
        return ObjectRef(res["apiVersion"], res["kind"], ns, meta["name"])

    def _check(self) -> None:
        if self.down:
            raise RuntimeUnavailable("connection refused")

    def plan(self, app: str, desired: DesiredApp) -> list[ObjectRef]:
        self._check()
        return [self._ref(res, desired.namespace) for res in desired.resources]

    def apply(
        self, app: str, desired: DesiredApp, only: Collection[ObjectRef] | None = None
    ) -> list[Applied]:
        self._check()
        results = []
        for res in desired.resources:
            ref = self._ref(res, desired.namespace)
            if only is not None and ref not in only:
                continue
            self.calls.append(("apply", ref))
            body = labelled(res, app)
            error = self.reject(body)
            if error:
                results.append(Applied(ref, error))
                continue
            self._version += 1
            uid = (self.objects.get(ref) or {}).get("metadata", {}).get("uid")
            body["metadata"] = {
                **body["metadata"],
                "resourceVersion": str(self._version),
                "uid": uid or f"uid-{self._version}",
            }
            self.objects[ref] = body
            results.append(Applied(ref, fingerprint=Fingerprint.of(body)))
        return results

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        self._check()
        obj = self.objects.get(ref)
        return copy.deepcopy(obj) if obj is not None else None

    def delete(self, ref: ObjectRef, uid: str = "") -> str:
        self._check()
        self.calls.append(("delete", ref))
        live = self.objects.get(ref)
        if live is not None and uid and live["metadata"].get("uid") != uid:
            return ""  # the precondition failed: someone else's object, left alone
        self.objects.pop(ref, None)
        return ""

    def server_version(self) -> str:
        return "" if self.down else "v1.31.0-fake"

    def touch(self, ref: ObjectRef) -> None:
        """Someone else edits the object."""
        self._version += 1
        self.objects[ref]["metadata"]["resourceVersion"] = str(self._version)
