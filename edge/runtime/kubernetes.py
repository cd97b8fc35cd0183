"""The Kubernetes runtime: server-side apply of a Desired app through the official client.

Used by `shoal edge` (edge/cli.py builds it from a kubeconfig or the in-cluster
service account) and by the edge tests against the API stand-in or a real cluster.
Every object is applied with field manager `shoal`, forcing conflicts (the Desired
document is the source of truth), labelled `app.kubernetes.io/managed-by: shoal`
and `shoal.dev/app: <app>`; a namespaced object without a namespace goes to the
app's namespace, which is created when missing (labelled managed-by shoal, with no
app label: apps of the node share it, and it is never pruned).

Which objects the edge may touch at all (ownership, policy) is the reconciler's
decision; this runtime still refuses to build a request from a name or namespace the
API server would refuse (shadow/names.py): a path is made of them.

`kubernetes.dynamic.DynamicClient` resolves any kind through discovery, so custom
resources work like built-in ones. It is built lazily: the cluster may be down when
the agent starts, and the agent must still start, report and retry. Reads go through
it; writes (each apply, each namespace made) through `rawcalls.send`, the same
request with JSON in and a dict out. An app's objects after its Namespaces and CRDs
go `apply_concurrency` at a time (`inflight.py`; default one by one).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from edge.runtime import (
    FIELD_MANAGER,
    Applied,
    Fingerprint,
    ObjectRef,
    RuntimeUnavailable,
    labelled,
    rawcalls,
)
from edge.runtime.inflight import InFlight
from shadow import MANAGED_BY, MANAGED_BY_LABEL, DesiredApp, Resource
from shadow.names import object_name_problem
from shadow.sealing import SealingError, holds_sealed, unseal_object

log = logging.getLogger(__name__)

# Kinds other objects live in or are made of go first (like `kubectl apply` users
# order them by hand); everything else keeps the order of the Desired document.
_FIRST_KINDS = ("Namespace", "CustomResourceDefinition")
# (connect, read) seconds: a hung API server must not hang the agent's loop.
REQUEST_TIMEOUT = (5.0, 30.0)
# Server-side applies of one app in flight at once (after its Namespaces and CRDs);
# 1 sends them one by one: more only pays when the API server is slow to answer.
APPLY_CONCURRENCY = 1
# How long a namespace seen to exist is trusted without looking again (one apply pass).
NAMESPACE_FRESH_SECONDS = 10.0


def apply_order(resources: Collection[Resource]) -> list[Resource]:
    def rank(item: tuple[int, Resource]) -> tuple[int, int]:
        index, res = item
        kind = res.get("kind")
        return (_FIRST_KINDS.index(kind) if kind in _FIRST_KINDS else len(_FIRST_KINDS), index)

    return [res for _, res in sorted(enumerate(resources), key=rank)]


def api_error_message(exc: Exception) -> str:
    """The API server's own words (`Status.message`) for a failed request."""
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message)
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        return str(body)[:500]
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    return f"{status} {reason}" if status else str(exc)


class KubernetesRuntime:
    """A `Runtime` over a `kubernetes.client.ApiClient` made by `client_factory`."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        discovery_cache: Path | None = None,
        age_identities: Sequence[str] = (),
        apply_concurrency: int = APPLY_CONCURRENCY,
    ) -> None:
        self._client_factory = client_factory
        # Requests of one app in flight at once (`shoal edge --apply-concurrency`).
        self.apply_concurrency = apply_concurrency
        # The node's age identities: sealed values in Secrets are opened with them, in
        # memory, just before the request (shadow/sealing.py); nothing else sees them.
        self._age_identities = tuple(age_identities)
        self._discovery_cache = discovery_cache
        self._dynamic: Any = None
        self._lock = threading.Lock()
        self._version = ""
        # (apiVersion, kind) -> the discovered resource, for the client in `_dynamic`.
        self._resources: dict[tuple[str, str], Any] = {}
        # namespace -> when it was last seen to exist (or made). Within a few seconds,
        # applying into it does not look again; an older sighting is checked again.
        self._namespaces_seen: dict[str, float] = {}

    # --- connection -------------------------------------------------------------------

    def _client(self) -> Any:
        from kubernetes.dynamic import DynamicClient

        with self._lock:
            if self._dynamic is None:
                try:
                    api_client = self._client_factory()
                    cache = str(self._discovery_cache) if self._discovery_cache else None
                    self._dynamic = DynamicClient(api_client, cache_file=cache)  # type: ignore[no-untyped-call]
                except Exception as exc:
                    if _is_unreachable(exc):
                        raise RuntimeUnavailable(
                            f"cannot reach the Kubernetes API: {_short(exc)}"
                        ) from exc
                    raise RuntimeUnavailable(
                        f"cannot use the Kubernetes API: {_short(exc)}"
                    ) from exc
            return self._dynamic

    def _call(self, what: Callable[[Any], Any]) -> Any:
        """Run one request; connection failures become RuntimeUnavailable."""
        client = self._client()
        try:
            return what(client)
        except Exception as exc:
            if _is_unreachable(exc):
                with self._lock:
                    self._dynamic = None  # rediscover once the server is back
                    self._resources = {}
                raise RuntimeUnavailable(f"cannot reach the Kubernetes API: {_short(exc)}") from exc
            raise

    def server_version(self) -> str:
        if not self._version:
            try:
                info = self._call(lambda c: c.version.get("kubernetes") or {})
                self._version = str(info.get("gitVersion") or "")
            except RuntimeUnavailable:
                return ""
        return self._version

    def _resource(self, api_version: str, kind: str) -> Any:
        """The discovered resource of a kind (None when the server has no such kind);
        found ones are kept: every object of a document asks two or three times.

        A core kind (`v1`) is looked for in the core group only (`/api/v1`), as kubectl
        does: asked for version `v1` alone, the client would read every group's `v1`
        too (five more requests on a first start) and take `v1 Deployment` for
        `apps/v1`."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        key = (api_version, kind)
        found = self._resources.get(key)
        if found is not None:
            return found
        prefix = "apis" if "/" in api_version else "api"
        try:
            found = self._call(
                lambda c: c.resources.get(prefix=prefix, api_version=api_version, kind=kind)
            )
        except ResourceNotFoundError:
            return None  # not kept: a CRD installed later is found then
        self._resources[key] = found
        return found

    # --- Runtime ----------------------------------------------------------------------

    def plan(self, app: str, desired: DesiredApp) -> list[ObjectRef]:
        return [self._ref(res, desired.namespace)[0] for res in apply_order(desired.resources)]

    def _ref(self, res: Resource, app_namespace: str) -> tuple[ObjectRef, Any]:
        api_version, kind = str(res["apiVersion"]), str(res["kind"])
        meta = res.get("metadata") or {}
        resource = self._resource(api_version, kind)
        if resource is not None and not resource.namespaced:
            namespace = ""
        else:  # unknown kinds keep the best guess, so their failure names a place
            namespace = str(meta.get("namespace") or app_namespace or "")
        return ObjectRef(api_version, kind, namespace, str(meta["name"])), resource

    def apply(
        self, app: str, desired: DesiredApp, only: Collection[ObjectRef] | None = None
    ) -> list[Applied]:
        """Namespaces and CRDs one by one, then the other objects up to
        `apply_concurrency` requests at a time; one result each, in apply order."""
        results: list[Applied | Future[Applied]] = []
        namespaces_seen: set[str] = set()
        wanted = None if only is None else set(only)
        with InFlight(self.apply_concurrency) as requests:
            for res in apply_order(desired.resources):
                # Resolved only now, after the CRDs before it were applied (and waited for).
                ref, resource = self._ref(res, desired.namespace)
                if wanted is not None and ref not in wanted:
                    continue
                request = self._request(app, ref, resource, res, namespaces_seen)
                if isinstance(request, Applied):
                    results.append(request)
                elif res.get("kind") in _FIRST_KINDS or requests.limit == 1:
                    results.append(self._send(ref, resource, request))
                else:
                    results.append(requests.submit(self._send, ref, resource, request))
        return [r if isinstance(r, Applied) else r.result() for r in results]

    def _request(
        self, app: str, ref: ObjectRef, resource: Any, res: Resource, namespaces: set[str]
    ) -> Applied | dict[str, Any]:
        """The body to apply for `ref` (its namespace made first when missing), or why
        it cannot be applied."""
        from kubernetes.dynamic.exceptions import DynamicApiError

        invalid = _invalid(ref)
        if invalid:
            return Applied(ref, invalid, reason="InvalidName")
        if resource is None:
            return Applied(
                ref,
                f"the API server has no kind {ref.kind} in {ref.api_version}",
                reason="ApplyFailed",
            )
        if resource.namespaced and not ref.namespace:
            return Applied(
                ref,
                "namespaced object without a namespace (and the app has none)",
                reason="ApplyFailed",
            )
        body = labelled(res, app)
        if holds_sealed(body):
            try:
                body = unseal_object(body, self._age_identities)
            except SealingError as exc:
                return Applied(ref, str(exc), reason="SealedSecret")
        if resource.namespaced:
            body["metadata"]["namespace"] = ref.namespace
        else:
            body["metadata"].pop("namespace", None)
        if resource.namespaced and ref.namespace not in namespaces:
            try:
                self._ensure_namespace(ref.namespace, app)
            except DynamicApiError as exc:
                return Applied(ref, api_error_message(exc), reason="ApplyFailed")
            namespaces.add(ref.namespace)
        return body

    def _send(self, ref: ObjectRef, resource: Any, body: dict[str, Any]) -> Applied:
        """Server-side apply one object (called from the apply threads too)."""
        from kubernetes.dynamic.exceptions import DynamicApiError

        try:
            live = self._call(
                lambda c: rawcalls.send(
                    c,
                    "PATCH",
                    resource.path(name=ref.name, namespace=ref.namespace or None),
                    body,
                    [("fieldManager", FIELD_MANAGER), ("force", True)],
                    rawcalls.APPLY_PATCH,
                    REQUEST_TIMEOUT,
                )
            )
        except DynamicApiError as exc:
            return Applied(ref, api_error_message(exc), reason="ApplyFailed")
        return Applied(ref, fingerprint=Fingerprint.of(live))

    def _ensure_namespace(self, name: str, app: str) -> None:
        from kubernetes.dynamic.exceptions import NotFoundError

        if self._namespace_fresh(name):
            return  # seen or made a moment ago (`prepare`): no need to look again
        namespaces = self._resource("v1", "Namespace")
        try:
            self._call(lambda c: c.get(namespaces, name=name, _request_timeout=REQUEST_TIMEOUT))
            self._namespaces_seen[name] = time.monotonic()
            return
        except NotFoundError:
            pass
        self._create_namespace(name, app)

    def _namespace_fresh(self, name: str) -> bool:
        seen = self._namespaces_seen.get(name)
        return seen is not None and time.monotonic() - seen < NAMESPACE_FRESH_SECONDS

    def _create_namespace(self, name: str, app: str) -> bool:
        """Create the namespace for `app`; False when it existed already."""
        from kubernetes.dynamic.exceptions import ConflictError

        namespaces = self._resource("v1", "Namespace")
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                "annotations": {"shoal.dev/created-for": app},
            },
        }
        created = True
        try:
            self._call(
                lambda c: rawcalls.send(
                    c, "POST", namespaces.path(), body, [], timeout=REQUEST_TIMEOUT
                )
            )
            log.info("created namespace %s", name)
        except ConflictError:  # it exists (made meanwhile by someone else): fine
            created = False
        self._namespaces_seen[name] = time.monotonic()
        return created

    def prepare(
        self, app: str, refs: Collection[ObjectRef]
    ) -> dict[ObjectRef, dict[str, Any] | None]:
        """Before applying `refs` of `app` (refs the reconciler allows): the live object
        under each (ownership is judged from them), by ref.

        A namespace they go to that was not seen before is created first, as applying
        would create it: when it did not exist, no object can exist in it yet and none
        is asked for (a first apply of 20 apps makes 20 requests here, not 200 reads
        and 20 more to look for each namespace). When it exists (or cannot be made, for
        want of rights), each object is read as before.
        """
        from kubernetes.dynamic.exceptions import DynamicApiError

        new: set[str] = set()
        # A namespace the app declares itself is made by applying its manifest.
        declared = {ref.name for ref in refs if ref.kind == "Namespace" and not ref.namespace}
        for namespace in sorted({ref.namespace for ref in refs if ref.namespace} - declared):
            if namespace in self._namespaces_seen or object_name_problem(
                "Namespace", namespace, ""
            ):
                continue
            if not any(self._namespaced(ref) for ref in refs if ref.namespace == namespace):
                continue  # only unknown kinds there: applying would not create it either
            try:
                if self._create_namespace(namespace, app):
                    new.add(namespace)
            except DynamicApiError:
                continue  # not allowed to create one: each object is asked for
        return {ref: None if ref.namespace in new else self.get(ref) for ref in refs}

    def _namespaced(self, ref: ObjectRef) -> bool:
        resource = self._resource(ref.api_version, ref.kind)
        return resource is not None and bool(resource.namespaced)

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        if _invalid(ref):
            return None  # no such object can exist, and no request is built from it
        resource = self._resource(ref.api_version, ref.kind)
        if resource is None:
            return None
        try:
            live = self._call(
                lambda c: c.get(
                    resource,
                    name=ref.name,
                    namespace=ref.namespace or None,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )
        except NotFoundError:
            return None
        obj: dict[str, Any] = live.to_dict()
        return obj

    def delete(self, ref: ObjectRef, uid: str = "") -> str:
        from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError, NotFoundError

        if _invalid(ref):
            return ""  # no such object can exist, and no request is built from it
        resource = self._resource(ref.api_version, ref.kind)
        if resource is None:
            return ""  # the kind itself is gone (a removed CRD): so is the object
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            self._call(
                lambda c: c.delete(
                    resource,
                    name=ref.name,
                    namespace=ref.namespace or None,
                    body=options,
                    propagation_policy="Background",
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )
        except NotFoundError:
            return ""
        except ConflictError:  # only a failed precondition: ours went, someone made another
            log.info("%s was re-created by someone else; left alone", ref)
            return ""
        except DynamicApiError as exc:
            return api_error_message(exc)
        return ""


def _invalid(ref: ObjectRef) -> str:
    """Why no request may be built for `ref` ("" when it may)."""
    return object_name_problem(ref.kind, ref.name, ref.namespace) or ""


def _is_unreachable(exc: BaseException) -> bool:
    import urllib3.exceptions

    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError, TimeoutError))


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError wraps the socket error
    return str(reason or exc).splitlines()[0][:300]


def client_factory(
    kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False
) -> Callable[[], Any]:
    """A function making an ApiClient from a kubeconfig (or the in-cluster account).

    Called when the runtime first connects (and again after the API was unreachable),
    so a rotated token or edited kubeconfig is picked up.
    """

    def make() -> Any:
        from kubernetes import client, config

        if in_cluster:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return client.ApiClient(configuration)
        return config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]

    return make


def kubeconfig_source(kubeconfig: str | None = None) -> str:
    """The kubeconfig the client will read: --kubeconfig, else $KUBECONFIG (which may
    list several files), else ~/.kube/config — for messages naming the right file."""
    return kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"


def check_config(
    kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False
) -> str:
    """ "" when the Kubernetes settings can be loaded, else why not (for `shoal edge`)."""
    import yaml
    from kubernetes.config import ConfigException

    if in_cluster:
        source = "the in-cluster service account"
    else:
        path = kubeconfig_source(kubeconfig)
        source = f"kubeconfig {path}" + ("" if kubeconfig else _env_note(path))
        listed = [p for p in path.split(os.pathsep) if p]
        if not any(os.path.exists(os.path.expanduser(p)) for p in listed):
            hint = "" if kubeconfig else " (give --kubeconfig PATH or --in-cluster)"
            return f"cannot load Kubernetes settings from {source}: no such file{hint}"
        from edge.runtime.kubeconfig import kubeconfig_problem

        for listed_path in listed:
            if os.path.exists(os.path.expanduser(listed_path)):
                problem = kubeconfig_problem(os.path.expanduser(listed_path))
                if problem:
                    return f"cannot load Kubernetes settings: {problem}"
    try:
        client_factory(kubeconfig, context, in_cluster)()
    except yaml.YAMLError as exc:
        return _yaml_problem(exc, source)
    except (ConfigException, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"cannot load Kubernetes settings from {source}: {exc}"
    return ""


def _env_note(path: str) -> str:
    return " (from $KUBECONFIG)" if os.environ.get("KUBECONFIG") == path else ""


def _yaml_problem(exc: Exception, source: str) -> str:
    """PyYAML's multi-line error as one line: `kubeconfig FILE:LINE: invalid YAML: problem`."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return f"{source}: invalid YAML: " + " ".join(str(exc).split())
    # The mark names the one file at fault, even when $KUBECONFIG lists several.
    where = f"kubeconfig {mark.name}" if os.path.exists(mark.name) else source
    return f"{where}:{mark.line + 1}: invalid YAML: {problem} (column {mark.column + 1})"
