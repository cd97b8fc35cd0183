"""The object store behind the stand-in: every write goes through here.

It keeps objects by (group, plural, namespace, name) under one lock, and does what
the real API server's registry does on each write: checks the namespace exists,
assigns uid, creationTimestamp and a resourceVersion from one global counter,
bumps `metadata.generation` when anything but metadata or status changes (for the
kinds that track it), applies a few defaults, validates, runs the admission hooks
registered with `reject`, records field ownership in managedFields, and skips the
write (same resourceVersion) when nothing changed. The HTTP layer (`server.py`) and
`KubeSim`'s direct-access methods both call this class.

`Store` is this module (reads and the write verbs, with the steps every write takes)
plus one part per other job, each in its own module: `events.Watches` streams
watches, `rolloutclock.RolloutClock` settles workload status on a clock (see
`rollout.py`) and `namespaces.NamespaceLifecycle` populates and terminates namespaces.
"""

from __future__ import annotations

import builtins
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from shoal.kubesim import errors, ownership, rollout, validation
from shoal.kubesim.catalog import Catalog, Kind
from shoal.kubesim.clone import clone
from shoal.kubesim.defaults import apply_defaults
from shoal.kubesim.errors import ApiError
from shoal.kubesim.events import EventLog, Key, Watches
from shoal.kubesim.namespaces import SYSTEM_NAMESPACES, NamespaceLifecycle
from shoal.kubesim.patches import json_patch, merge_patch, strategic_merge_patch
from shoal.kubesim.rolloutclock import RolloutClock, timestamp
from shoal.kubesim.scale import scale_of
from shoal.kubesim.selectors import parse_field_selector, parse_label_selector

Rejecter = Callable[[dict[str, Any]], "str | None"]

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"

# What a manager without ?fieldManager= is called when the client sends no User-Agent.
DEFAULT_MANAGER = "unknown"


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything that counts for `generation`: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal but for resourceVersion and managedFields times: a write that changes nothing."""
    if {k: v for k, v in a.items() if k != "metadata"} != {
        k: v for k, v in b.items() if k != "metadata"
    }:
        return False
    ignored = ("resourceVersion", "managedFields")
    ma, mb = a.get("metadata", {}), b.get("metadata", {})
    if {k: v for k, v in ma.items() if k not in ignored} != {
        k: v for k, v in mb.items() if k not in ignored
    }:
        return False
    untimed = [
        [{k: v for k, v in e.items() if k != "time"} for e in m.get("managedFields") or []]
        for m in (ma, mb)
    ]
    return untimed[0] == untimed[1]


class Store(Watches, RolloutClock, NamespaceLifecycle):
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
        self._dry_run = False
        # Watch support: recent writes, and a condition watchers wait on.
        self._events = EventLog()
        self._changed = threading.Condition(self._lock)
        self._closed = False
        self._rolling: set[Key] = set()  # workloads whose rollout is not complete yet
        self._terminating: dict[str, float] = {}  # namespace -> when it is gone (monotonic)
        namespace = catalog.namespace_kind()
        for name in SYSTEM_NAMESPACES:
            self.create(namespace, None, {"metadata": {"name": name}}, "kube-apiserver")

    # --- hooks used by KubeSim -----------------------------------------------------

    def add_rejecter(self, rejecter: Rejecter) -> None:
        with self._lock:
            self._rejecters.append(rejecter)

    @contextmanager
    def dry_run(self) -> Iterator[None]:
        """Within this block (one request, under the store's lock) writes are checked
        and answered but not stored, as for `?dryRun=All`."""
        with self._lock:
            self._dry_run = True
            try:
                yield
            finally:
                self._dry_run = False

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._revision)

    # --- reads ------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        with self._locked():
            key = self._key(kind, namespace, name)
            obj = self._objects.get(key)
            if obj is None:
                raise errors.not_found(kind, name)
            return clone(self._settle(key, obj))

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
        with self._locked():
            items = []
            for key in sorted(self._objects):
                group, plural, ns, _ = key
                if (group, plural) != (kind.group, kind.plural):
                    continue
                if kind.namespaced and namespace and ns != namespace:
                    continue
                obj = self._settle(key, self._objects[key])  # before matching on status
                if not labels_match(obj["metadata"].get("labels") or {}):
                    continue
                if not fields_match(obj):
                    continue
                items.append(clone(obj))
            return items, str(self._revision)

    # --- writes -----------------------------------------------------------------------

    def create(self, kind: Kind, namespace: str | None, body: Any, manager: str) -> dict[str, Any]:
        with self._locked():
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
        with self._locked():
            validation.check_body(kind, body, namespace, name)
            key = self._key(kind, namespace, name)
            old = self._existing(kind, key, name)
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(kind, name, errors.STALE)
            new = clone(body)
            new.setdefault("apiVersion", kind.api_version)
            new.setdefault("kind", kind.kind)
            if subresource == "status":
                new = {**clone(old), "status": new.get("status")}
            elif "status" in old:
                new["status"] = clone(old["status"])  # status is its own subresource
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
        with self._locked():
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
            validation.check_body(kind, patched, namespace, name)
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
        with self._locked():
            key = self._key(kind, namespace, name)
            old = self._existing(kind, key, name)
            new = clone(old)
            mutate(new)
            owners = ownership.record_update(old, new, manager)
            return self._update(kind, key, old, new, owners, {(manager, "Update")}, admit=False)

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

    def delete(
        self, kind: Kind, namespace: str | None, name: str, preconditions: Any = None
    ) -> dict[str, Any]:
        """Remove an object now (no finalizers, no grace period) and answer it as it was.
        `preconditions` ({"uid": .., "resourceVersion": ..}) must match, else 409.

        A namespace is different: it turns Terminating, refuses new content, and goes
        away with everything in it `rollout_seconds` later.
        """
        with self._locked():
            key = self._key(kind, namespace, name)
            obj = self._existing(kind, key, name)
            errors.check_preconditions(kind, name, obj["metadata"], preconditions or {})
            if self._dry_run:
                return clone(obj)
            if kind.kind == "Namespace":
                return self._terminate(key, obj)
            if obj["metadata"].get("finalizers"):
                return self._mark_deleted(key, obj)
            return self._remove(key)

    def delete_collection(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> builtins.list[dict[str, Any]]:
        with self._locked():
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
            raise errors.field_manager_required()
        if not isinstance(config, dict):
            raise errors.bad_request(
                "error decoding YAML: the apply configuration is not an object"
            )
        validation.check_body(kind, config, namespace, name, apply=True)
        validation.check_apply_types(kind, namespace if kind.namespaced else None, name, config)
        if (config.get("metadata") or {}).get("managedFields"):
            raise errors.bad_request("metadata.managedFields must be nil")
        config = clone(config)
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
        old = self._settle(key, old)
        wanted = (config.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise errors.conflict(kind, name, errors.STALE)
        merged, owners, conflicts = ownership.apply_configuration(old, config, manager, force)
        if conflicts and not force:
            raise errors.apply_conflict(conflicts)
        new = self._keep_status(old, merged, subresource)
        return self._update(kind, key, old, new, owners, {(manager, "Apply")}), False

    def _new_object(self, kind: Kind, namespace: str | None, body: Any) -> dict[str, Any]:
        """A validated object ready to insert, from a create or apply body."""
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request is not a JSON object")
        obj = clone(body)
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        validation.check_body(kind, obj, namespace, None)
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        metadata = obj["metadata"]
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
            if ns in self._terminating:
                raise errors.namespace_terminating(kind, metadata["name"], ns)
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
        validation.check_types(kind, obj)
        validation.drop_unknown_fields(obj)
        apply_defaults(obj)
        self._admit(kind, obj)
        return obj

    def _insert(self, kind: Kind, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        if self._dry_run:
            return clone(obj)
        self._start_rollout(key, obj)
        obj["metadata"]["resourceVersion"] = self._next_revision()
        self._objects[key] = obj
        self._record("ADDED", key, obj)
        if kind.kind == "Namespace":
            self._populate_namespace(obj["metadata"]["name"])
        return clone(obj)

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
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        metadata = new["metadata"]
        for field in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ):
            if field in old["metadata"]:
                metadata[field] = old["metadata"][field]
            else:
                metadata.pop(field, None)
        metadata["resourceVersion"] = old["metadata"]["resourceVersion"]
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        validation.check_types(kind, new)
        validation.drop_unknown_fields(new)
        apply_defaults(new)
        spec_changed = _content(new) != _content(old)
        if spec_changed and kind.tracks_generation:
            metadata["generation"] = old["metadata"].get("generation", 0) + 1
        if admit:
            self._admit(kind, new)
        ownership.write_owners(new, owners, kind.api_version, self._now(), touched)
        if _same(new, old):
            return clone(old)  # a no-op write changes nothing
        if self._dry_run:
            return clone(new)
        if spec_changed:
            self._start_rollout(key, new)
        else:
            self._settle(key, new, write=False)
        metadata["resourceVersion"] = self._next_revision()
        self._objects[key] = new
        self._record("MODIFIED", key, new)
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            self._remove(key)  # its last finalizer is gone: the deletion completes
        return clone(new)

    def _admit(self, kind: Kind, obj: dict[str, Any]) -> None:
        name = obj["metadata"].get("name", "")
        causes = validation.validate(obj)
        if causes:
            raise errors.invalid(kind, name, causes)
        for rejecter in self._rejecters:
            message = rejecter(clone(obj))
            if message:
                raise errors.invalid(kind, name, [("", "FieldValueInvalid", message)])

    # --- small pieces -----------------------------------------------------------------

    def _keep_status(
        self, old: dict[str, Any], patched: dict[str, Any], subresource: str | None
    ) -> dict[str, Any]:
        """A write to the main resource keeps status; a write to /status keeps the rest."""
        if subresource == "status":
            new = clone(old)
            if "status" in patched:
                new["status"] = patched["status"]
            return new
        new = clone(patched)
        if "status" in old:
            new["status"] = clone(old["status"])
        else:
            new.pop("status", None)
        return new

    def _existing(self, kind: Kind, key: Key, name: str) -> dict[str, Any]:
        """The stored object, its status settled: what a write starts from."""
        obj = self._objects.get(key)
        if obj is None:
            raise errors.not_found(kind, name)
        return self._settle(key, obj)

    def _key(self, kind: Kind, namespace: str | None, name: str) -> Key:
        return (kind.group, kind.plural, (namespace or "default") if kind.namespaced else "", name)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The store's lock, for a request: first, namespaces whose time is up go."""
        with self._lock:
            self._finish_terminations()
            yield

    def _mark_deleted(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        """Deleting an object with finalizers only marks it; it goes when they are removed."""
        if obj["metadata"].get("deletionTimestamp"):
            return clone(obj)
        metadata = {
            **obj["metadata"],
            "deletionTimestamp": self._now(),
            "deletionGracePeriodSeconds": 0,
            "resourceVersion": self._next_revision(),
        }
        marked = {**obj, "metadata": metadata}
        self._objects[key] = marked
        self._record("MODIFIED", key, marked)
        return clone(marked)

    def _remove(self, key: Key) -> dict[str, Any]:
        obj = clone(self._objects.pop(key))
        self._spec_changed.pop(key, None)
        self._rolling.discard(key)
        obj["metadata"]["deletionTimestamp"] = self._now()
        obj["metadata"]["resourceVersion"] = self._next_revision()
        if obj["kind"] == "Namespace":
            obj["status"] = {"phase": "Terminating"}
        self._record("DELETED", key, obj)
        return clone(obj)

    def _record(self, event_type: str, key: Key, obj: dict[str, Any]) -> None:
        # No copy: a stored object is replaced on every change, never changed in place.
        self._events.record(event_type, key, obj)
        self._changed.notify_all()

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    def _now(self) -> str:
        return timestamp(datetime.now(UTC))


__all__ = ["APPLY", "JSON_PATCH", "MERGE", "STRATEGIC", "ApiError", "Store"]
