"""The object store behind the stand-in: every write goes through here.

It keeps objects by (group, plural, namespace, name) under one lock, and does what
the real API server's registry does on each write: checks the namespace exists,
assigns uid, creationTimestamp and a resourceVersion from one global counter,
bumps `metadata.generation` when anything but metadata or status changes (for the
kinds that track it), applies a few defaults, validates, runs the admission hooks
registered with `reject`, records field ownership in managedFields, and skips the
write (same resourceVersion) when nothing changed. Reads settle workload status
(see `rollout.py`). The HTTP layer (`server.py`) and `KubeSim`'s direct-access
methods both call this class.
"""

from __future__ import annotations

import builtins
import copy
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shoal.kubesim import errors, ownership, rollout, validation
from shoal.kubesim.catalog import Catalog, Kind
from shoal.kubesim.errors import ApiError
from shoal.kubesim.patches import json_patch, merge_patch, strategic_merge_patch
from shoal.kubesim.selectors import parse_field_selector, parse_label_selector

Key = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name
Rejecter = Callable[[dict[str, Any]], "str | None"]

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# What a manager without ?fieldManager= is called when the client sends no User-Agent.
DEFAULT_MANAGER = "unknown"


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything that counts for `generation`: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    metadata = out.get("metadata", {})
    metadata.pop("resourceVersion", None)
    for entry in metadata.get("managedFields") or []:
        entry.pop("time", None)
    return out


def _defaults(obj: dict[str, Any]) -> None:
    """The defaults the real server fills in that clients commonly read back."""
    kind, spec = obj.get("kind"), obj.get("spec")
    if not isinstance(spec, dict):
        return
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
    if kind == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
        )
    if kind == "Service":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))


class Store:
    """Objects and the rules for changing them. Thread-safe."""

    def __init__(self, catalog: Catalog, rollout_seconds: float) -> None:
        self.catalog = catalog
        self.rollout_seconds = rollout_seconds
        self._lock = threading.RLock()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._spec_changed: dict[Key, tuple[float, datetime]] = {}  # monotonic, wall clock
        self._held: set[tuple[str, str]] = set()
        self._rejecters: list[Rejecter] = []
        self._revision = 0
        namespace = catalog.namespace_kind()
        for name in SYSTEM_NAMESPACES:
            self.create(namespace, None, {"metadata": {"name": name}}, "kube-apiserver")

    # --- hooks used by KubeSim -----------------------------------------------------

    def add_rejecter(self, rejecter: Rejecter) -> None:
        with self._lock:
            self._rejecters.append(rejecter)

    def hold(self, namespace: str, name: str, held: bool) -> None:
        with self._lock:
            if held:
                self._held.add((namespace, name))
            else:
                self._held.discard((namespace, name))

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._revision)

    # --- reads ------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        with self._lock:
            key = self._key(kind, namespace, name)
            obj = self._objects.get(key)
            if obj is None:
                raise errors.not_found(kind, name)
            return copy.deepcopy(self._settle(key, obj))

    def list(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """Matching objects sorted by namespace and name, and the list's resourceVersion."""
        labels_match = parse_label_selector(label_selector or "")
        fields_match = parse_field_selector(field_selector or "")
        with self._lock:
            items = []
            for key in sorted(self._objects):
                group, plural, ns, _ = key
                if (group, plural) != (kind.group, kind.plural):
                    continue
                if kind.namespaced and namespace and ns != namespace:
                    continue
                obj = self._objects[key]
                if not labels_match(obj["metadata"].get("labels") or {}):
                    continue
                if not fields_match(obj):
                    continue
                items.append(copy.deepcopy(self._settle(key, obj)))
            return items, str(self._revision)

    # --- writes -----------------------------------------------------------------------

    def create(self, kind: Kind, namespace: str | None, body: Any, manager: str) -> dict[str, Any]:
        with self._lock:
            obj = self._new_object(kind, namespace, body)
            key = self._key(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            if key in self._objects:
                raise errors.already_exists(kind, obj["metadata"]["name"])
            ownership.write_owners(
                obj,
                ownership.record_update(None, obj, manager),
                kind.api_version,
                self._now(),
                set(),
            )
            return self._insert(kind, key, obj)

    def replace(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        body: Any,
        manager: str,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            self._check_body(kind, body, namespace, name)
            key = self._key(kind, namespace, name)
            old = self._existing(kind, key, name)
            wanted = body.get("metadata", {}).get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(kind, name, errors.STALE)
            new = copy.deepcopy(body)
            new.setdefault("apiVersion", kind.api_version)
            new.setdefault("kind", kind.kind)
            if subresource == "status":
                new = {**copy.deepcopy(old), "status": new.get("status")}
            elif "status" in old:
                new["status"] = copy.deepcopy(old["status"])  # status is its own subresource
            else:
                new.pop("status", None)
            owners = ownership.record_update(old, new, manager)
            return self._update(kind, key, old, new, owners, {(manager, "Update")})

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        content_type: str,
        body: Any,
        manager: str | None,
        force: bool,
        subresource: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Apply a PATCH; returns the object and whether it was created (apply only)."""
        with self._lock:
            if content_type == APPLY:
                return self._apply(kind, namespace, name, body, manager, force, subresource)
            key = self._key(kind, namespace, name)
            old = self._existing(kind, key, name)
            if content_type in (MERGE, STRATEGIC):
                if not isinstance(body, dict):
                    raise errors.bad_request("a merge patch must be a JSON object")
                merge = merge_patch if content_type == MERGE else strategic_merge_patch
                patched = merge(old, body)
            elif content_type == JSON_PATCH:
                patched = json_patch(old, body)
            else:
                raise errors.unsupported_media_type(content_type)
            if not isinstance(patched, dict):
                raise errors.bad_request("the patched object is not a JSON object")
            wanted = (
                (body.get("metadata") or {}).get("resourceVersion")
                if isinstance(body, dict)
                else None
            )
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(kind, name, errors.STALE)
            self._check_body(kind, patched, namespace, name)
            new = self._keep_status(old, patched, subresource)
            who = manager or DEFAULT_MANAGER
            owners = ownership.record_update(old, new, who)
            return self._update(kind, key, old, new, owners, {(who, "Update")}), False

    def modify(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        mutate: Callable[[dict[str, Any]], None],
        manager: str,
    ) -> dict[str, Any]:
        """A change by someone else (a person with kubectl edit, another controller)."""
        with self._lock:
            key = self._key(kind, namespace, name)
            old = self._existing(kind, key, name)
            new = copy.deepcopy(self._settle(key, old))
            mutate(new)
            owners = ownership.record_update(old, new, manager)
            return self._update(kind, key, old, new, owners, {(manager, "Update")}, admit=False)

    def delete(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        """Remove an object now (no finalizers, no grace period); returns it as it was."""
        with self._lock:
            key = self._key(kind, namespace, name)
            obj = self._existing(kind, key, name)
            self._drop(key)
            if kind.kind == "Namespace":
                for other in [k for k in self._objects if k[2] == name]:
                    self._drop(other)
            obj = copy.deepcopy(obj)
            obj["metadata"]["deletionTimestamp"] = self._now()
            obj["metadata"]["resourceVersion"] = self._next_revision()
            if kind.kind == "Namespace":
                obj["status"] = {"phase": "Terminating"}
            return obj

    def delete_collection(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> builtins.list[dict[str, Any]]:
        with self._lock:
            items, _ = self.list(kind, namespace, label_selector, field_selector)
            return [
                self.delete(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])
                for obj in items
            ]

    # --- the steps of a write --------------------------------------------------------

    def _apply(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        config: Any,
        manager: str | None,
        force: bool,
        subresource: str | None,
    ) -> tuple[dict[str, Any], bool]:
        if not manager:
            raise errors.ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
                {
                    "group": "meta.k8s.io",
                    "kind": "PatchOptions",
                    "causes": [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: is required for apply patch",
                            "field": "fieldManager",
                        }
                    ],
                },
            )
        if not isinstance(config, dict):
            raise errors.bad_request(
                "error decoding YAML: the apply configuration is not an object"
            )
        self._check_body(kind, config, namespace, name, apply=True)
        if config.get("metadata", {}).get("managedFields"):
            raise errors.bad_request("metadata.managedFields must be nil")
        config = copy.deepcopy(config)
        config["apiVersion"], config["kind"] = kind.api_version, kind.kind
        if subresource != "status":
            config.pop("status", None)
        key = self._key(kind, namespace, name)
        old = self._objects.get(key)
        if old is None:
            if subresource:
                raise errors.not_found(kind, name)
            obj, owners, _ = ownership.apply_configuration(None, config, manager, force)
            obj = self._new_object(kind, namespace, obj)
            ownership.write_owners(obj, owners, kind.api_version, self._now(), set())
            return self._insert(kind, key, obj), True
        wanted = config.get("metadata", {}).get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise errors.conflict(kind, name, errors.STALE)
        merged, owners, conflicts = ownership.apply_configuration(
            self._settle(key, old), config, manager, force
        )
        if conflicts and not force:
            raise errors.apply_conflict(kind, name, conflicts)
        new = self._keep_status(old, merged, subresource)
        return self._update(kind, key, old, new, owners, {(manager, "Apply")}), False

    def _new_object(self, kind: Kind, namespace: str | None, body: Any) -> dict[str, Any]:
        """A validated object ready to insert, from a create or apply body."""
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request is not a JSON object")
        obj = copy.deepcopy(body)
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        self._check_body(kind, obj, namespace, None)
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name"):
            if metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + secrets.token_hex(3)[:5]
            else:
                raise errors.invalid(
                    kind,
                    "",
                    [
                        (
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
        if kind.namespaced:
            ns = namespace or metadata.get("namespace") or "default"
            if ("", "namespaces", "", ns) not in self._objects:
                raise errors.namespace_not_found(ns)
            metadata["namespace"] = ns
        else:
            metadata.pop("namespace", None)
        for field in ("resourceVersion", "deletionTimestamp", "managedFields", "selfLink"):
            metadata.pop(field, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = self._now()
        if kind.tracks_generation:
            metadata["generation"] = 1
        else:
            metadata.pop("generation", None)
        obj.pop("status", None)
        initial = rollout.initial_status(kind.api_version, kind.kind)
        if initial is not None:
            obj["status"] = initial
        _defaults(obj)
        self._admit(kind, obj)
        return obj

    def _insert(self, kind: Kind, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"]["resourceVersion"] = self._next_revision()
        self._objects[key] = obj
        self._spec_changed[key] = (time.monotonic(), datetime.now(UTC))
        if kind.kind == "Namespace":
            self._populate_namespace(obj["metadata"]["name"])
        return copy.deepcopy(self._settle(key, obj))

    def _update(
        self,
        kind: Kind,
        key: Key,
        old: dict[str, Any],
        new: dict[str, Any],
        owners: ownership.Owners,
        touched: set[tuple[str, str]],
        admit: bool = True,
    ) -> dict[str, Any]:
        metadata = new.setdefault("metadata", {})
        for field in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            if field in old["metadata"]:
                metadata[field] = old["metadata"][field]
            else:
                metadata.pop(field, None)
        metadata["resourceVersion"] = old["metadata"]["resourceVersion"]
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        _defaults(new)
        spec_changed = _content(new) != _content(old)
        if spec_changed and kind.tracks_generation:
            metadata["generation"] = old["metadata"].get("generation", 0) + 1
        if admit:
            self._admit(kind, new)
        ownership.write_owners(new, owners, kind.api_version, self._now(), touched)
        if _comparable(new) == _comparable(old):
            return copy.deepcopy(self._settle(key, old))  # a no-op write changes nothing
        metadata["resourceVersion"] = self._next_revision()
        self._objects[key] = new
        if spec_changed:
            self._spec_changed[key] = (time.monotonic(), datetime.now(UTC))
        return copy.deepcopy(self._settle(key, new))

    def _admit(self, kind: Kind, obj: dict[str, Any]) -> None:
        name = obj["metadata"].get("name", "")
        causes = validation.validate(obj)
        if causes:
            raise errors.invalid(kind, name, causes)
        for rejecter in self._rejecters:
            message = rejecter(copy.deepcopy(obj))
            if message:
                raise errors.invalid(kind, name, [("", "FieldValueInvalid", message)])

    def _settle(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        """Bring a workload's status up to date with its rollout clock."""
        if not rollout.has_rollout(obj["apiVersion"], obj["kind"]):
            return obj
        started, started_wall = self._spec_changed.get(key, (time.monotonic(), datetime.now(UTC)))
        held = (key[2], key[3]) in self._held
        ready = not held and time.monotonic() - started >= self.rollout_seconds
        when = started_wall + timedelta(seconds=self.rollout_seconds) if ready else started_wall
        status = rollout.status_for(obj, ready, _timestamp(when))
        if status is not None and obj.get("status") != status:
            obj["status"] = status
            obj["metadata"]["resourceVersion"] = self._next_revision()
        return obj

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

    # --- small pieces -----------------------------------------------------------------

    def _check_body(
        self, kind: Kind, body: Any, namespace: str | None, name: str | None, apply: bool = False
    ) -> None:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request is not a JSON object")
        api_version, kind_name = body.get("apiVersion"), body.get("kind")
        if apply and (not api_version or not kind_name):
            raise errors.bad_request("invalid object: apiVersion and kind must be set")
        if api_version and api_version != kind.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({kind.api_version})"
            )
        if kind_name and kind_name != kind.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind_name}) does not match the expected kind ({kind.kind})"
            )
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        if name is not None and metadata.get("name") and metadata["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({metadata['name']}) does not match the name on the URL ({name})"
            )
        body_ns = metadata.get("namespace")
        if kind.namespaced and namespace and body_ns and body_ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )

    def _keep_status(
        self, old: dict[str, Any], patched: dict[str, Any], subresource: str | None
    ) -> dict[str, Any]:
        """A write to the main resource keeps status; a write to /status keeps the rest."""
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in patched:
                new["status"] = patched["status"]
            return new
        new = copy.deepcopy(patched)
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
        return new

    def _existing(self, kind: Kind, key: Key, name: str) -> dict[str, Any]:
        obj = self._objects.get(key)
        if obj is None:
            raise errors.not_found(kind, name)
        return obj

    def _key(self, kind: Kind, namespace: str | None, name: str) -> Key:
        return (kind.group, kind.plural, (namespace or "default") if kind.namespaced else "", name)

    def _drop(self, key: Key) -> None:
        self._objects.pop(key, None)
        self._spec_changed.pop(key, None)

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    def _now(self) -> str:
        return _timestamp(datetime.now(UTC))


__all__ = ["APPLY", "JSON_PATCH", "MERGE", "STRATEGIC", "ApiError", "Store"]
