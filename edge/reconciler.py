"""One node's reconcile: apply → prune → (later) detect drift → observe health.

The agent's worker thread (edge/agent.py) owns one `Reconciler` and calls it for
every accepted document (`apply`), on the reconcile interval (`reconcile`: drift
and retries) and whenever it needs a report (`observe`). The reconciler is the only
code that writes the inventory: before applying an app it records every object it
is about to create (so a crash cannot orphan one), afterwards exactly what it owns:
the app's objects, plus any that left the document but could not be deleted yet.

Before any request for an object the reconciler refuses what is not the node's to
touch, each refusal failing that object only, with a machine-readable reason: a name
or namespace the API server would refuse (`InvalidName`, shadow/names.py), an object
the app's policies or the node's local policy do not allow (`PolicyDenied`,
shadow/policy.py), an existing object shoal did not create for the app (`NotOwned`,
edge/ownership.py). Prune deletes only what the live labels say is the app's, with
the live uid as a precondition.

Failures stay local: an object the API server rejects fails its app, not the
others; an unexpected error in one app fails that app (`AgentError`) and the others
go on; an unreachable cluster fails the document (`failure`) and the next
reconcile applies it all again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from edge import ownership
from edge.health import app_status, object_health
from edge.runtime import Applied, Fingerprint, ObjectRef, Runtime, RuntimeUnavailable
from edge.store import AppInventory, Store
from shadow import AppStatus, DesiredApp, DesiredDocument, Resource, ResourceStatus
from shadow.names import object_name_problem
from shadow.policy import DEFAULT_POLICY, UNRESTRICTED, Policy, check_all

log = logging.getLogger(__name__)


@dataclass
class ApplyCounts:
    """What the reconciler did since the agent started (read by /metrics)."""

    applies: int = 0  # documents applied (new, re-applied at start, retried)
    drift_repairs: int = 0  # objects re-applied after someone else changed or deleted them
    failures: dict[str, int] = field(default_factory=dict)  # by reason

    def failed(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


AGENT_ERROR = "AgentError"
# The objects of an app the node may not touch, each with its refusal.
Verdict = dict[ObjectRef, Applied]


class Reconciler:
    def __init__(self, runtime: Runtime, store: Store, local_policy: Policy = UNRESTRICTED) -> None:
        self.runtime = runtime
        self.store = store
        # The node owner's rules, on top of each app's (AgentSettings.local_policy).
        self.local_policy = local_policy
        self.inventory = store.load_inventory()
        self.document: DesiredDocument | None = None
        # Why the whole document could not be applied ("" when it could).
        self.failure = ""
        self.needs_apply = False
        self._planned: dict[str, list[ObjectRef]] = {}
        self._apply_errors: dict[str, dict[ObjectRef, Applied]] = {}
        # Apps whose last pass raised something unexpected: why (a bug, not the cluster).
        self._app_errors: dict[str, str] = {}
        self._prune_errors: dict[str, dict[ObjectRef, str]] = {}
        self._fingerprints: dict[ObjectRef, Fingerprint] = {}
        self._claimed: set[ObjectRef] = set()
        # Objects found changed or deleted by someone else at the last drift check.
        self._drifted: dict[ObjectRef, str] = {}
        self.counts = ApplyCounts()  # for the agent's /metrics (edge/http.py)

    @property
    def applied_digest(self) -> str:
        return self.inventory.applied_digest

    # --- apply -------------------------------------------------------------------------

    def adopt(self, document: DesiredDocument) -> None:
        """Take a new generation whose content is already applied: nothing to change."""
        self.document = document

    def apply(self, document: DesiredDocument, *, force: bool = False) -> None:
        """Make the cluster match `document`; `force` re-applies apps already applied."""
        self.document = document
        self.counts.applies += 1
        try:
            plans = self._plan(document)
            self._apply_apps(
                [
                    name
                    for name, app in document.apps.items()
                    if force or not self._is_applied(name, app)
                ],
                document,
                plans,
            )
            self._remove_apps(document)
        except RuntimeUnavailable as exc:
            self._unavailable(exc)
        else:
            self.failure = ""
            self.needs_apply = False
        self._settle(document)

    def _plan(self, document: DesiredDocument) -> dict[str, list[ObjectRef]]:
        """Each app's objects. Together they are claimed: never pruned, even an object
        moving from one app to another (whichever of the two is reconciled first)."""
        plans = {}
        for name, app in document.apps.items():
            planned = self._isolated(name, partial(self.runtime.plan, name, app))
            if planned is not None:
                plans[name] = planned
        self._claimed = {ref for planned in plans.values() for ref in planned}
        return plans

    def _isolated(self, name: str, step: Callable[[], Any]) -> Any:
        """Run one app's step; an unexpected error fails that app only (None is returned).

        RuntimeUnavailable still fails the document: no app could get further."""
        try:
            result = step()
        except RuntimeUnavailable:
            raise
        except Exception as exc:
            message = f"unexpected error in the edge agent: {type(exc).__name__}: {exc}"
            if self._app_errors.get(name) != message:  # retried each pass: log it once
                log.exception("app %s: %s", name, message)
            self._app_errors[name] = message
            return None
        return result

    def _settle(self, document: DesiredDocument) -> None:
        """Record the node digest as applied only when all of it is, and save the inventory."""
        for gone in set(self._app_errors) - set(document.apps):
            del self._app_errors[gone]  # an app that failed even to plan, and left
        complete = (
            not self.failure
            and not self._app_errors
            and not any(self._apply_errors.values())
            and not any(self._prune_errors.values())
            and set(self.inventory.apps) <= set(document.apps)
        )
        self.inventory.applied_digest = document.digest if complete else ""
        self.store.save_inventory(self.inventory)

    def _unavailable(self, exc: RuntimeUnavailable) -> None:
        generation = self.document.generation if self.document else None
        failure = f"generation {generation} not applied: {exc}"
        self.counts.failed("ClusterUnavailable")
        if failure != self.failure:  # retried every few seconds: say it once
            log.warning("%s", failure)
        self.failure = failure
        self.needs_apply = True

    def _is_applied(self, name: str, app: DesiredApp) -> bool:
        owned = self.inventory.apps.get(name)
        return (
            owned is not None
            and owned.digest == app.digest
            and name in self._planned
            and not self._apply_errors.get(name)
            and name not in self._app_errors
        )

    def _apply_apps(
        self, names: list[str], document: DesiredDocument, plans: dict[str, list[ObjectRef]]
    ) -> None:
        names = [name for name in names if name in plans]  # a failed plan: nothing to do
        if not names:
            return
        for name in names:  # own every object before creating it: a crash cannot orphan one
            owned = self.inventory.apps.setdefault(name, AppInventory())
            known = set(owned.objects)
            owned.objects += [ref for ref in plans[name] if ref not in known]
            owned.digest = ""
        # Once per pass (fsync is slow on flash), on a thread of its own: meanwhile each
        # app's objects are judged, which creates the namespaces they go to (never an
        # inventory object: shoal does not prune them) and reads what exists.
        writing = self.store.start_saving_inventory(self.inventory)
        verdicts = {}
        try:
            for name in names:
                app, planned = document.apps[name], plans[name]
                verdict = self._isolated(name, partial(self._judge, name, app, planned))
                if verdict is not None:
                    verdicts[name] = verdict
        except BaseException:
            with contextlib.suppress(Exception):  # the cluster's error is the one to tell
                writing.wait()
            raise
        writing.wait()  # durable before any object is applied (raises if it is not)
        for name, verdict in verdicts.items():
            app, planned = document.apps[name], plans[name]
            if self._isolated(name, partial(self._apply_app, name, app, planned, verdict)):
                self._app_errors.pop(name, None)

    def _apply_app(
        self, name: str, app: DesiredApp, planned: list[ObjectRef], verdict: Verdict
    ) -> bool:
        owned = self.inventory.apps[name]
        results = self._apply_judged(name, app, planned, verdict)
        self._record(name, results)
        keep = set(planned)
        stale = [ref for ref in owned.objects if ref not in keep]
        prune_errors = self._delete(name, reversed(stale))
        owned.objects = planned + [ref for ref in stale if ref in prune_errors]
        self._planned[name] = planned
        self._prune_errors[name] = prune_errors
        if not self._apply_errors[name] and not prune_errors:
            owned.digest = app.digest
        log.info(
            "app %s: applied %d objects, %d failed, pruned %d",
            name,
            len(results) - len(self._apply_errors[name]),
            len(self._apply_errors[name]),
            len(stale) - len(prune_errors),
        )
        return True

    # --- what the node may touch -------------------------------------------------------

    def _apply_allowed(
        self, name: str, app: DesiredApp, refs: Collection[ObjectRef]
    ) -> list[Applied]:
        """Apply `refs` of the app, refusing first (no request for them) the objects the
        node may not touch: bad names, policy, objects shoal did not create for it."""
        return self._apply_judged(name, app, refs, self._judge(name, app, refs))

    def _judge(self, name: str, app: DesiredApp, refs: Collection[ObjectRef]) -> Verdict:
        """Which of `refs` the node may not touch, and why (nothing is applied yet)."""
        resources = _resources_by_ref(app)
        policies = (*(app.policy or (DEFAULT_POLICY,)), self.local_policy)
        refused: dict[ObjectRef, Applied] = {}
        judged: list[tuple[ObjectRef, Resource]] = []
        for ref in refs:
            # Every planned ref has its manifest; were one missing, judge it as bare.
            res = resources.get(ref) or {"apiVersion": ref.api_version, "kind": ref.kind}
            refusal = self._refusal(ref, res, policies)
            if refusal is not None:
                refused[ref] = refusal
            else:
                judged.append((ref, res))
        # Ownership: what lives under each name now, read for the whole app at once.
        live = self._live(name, [ref for ref, _ in judged])
        node_apps = set(self.inventory.apps) | set(self.document.apps if self.document else ())
        for ref, res in judged:
            why = ownership.refusal(name, ref, res, live.get(ref), node_apps)
            if why:
                refused[ref] = Applied(ref, why, reason=ownership.NOT_OWNED)
        return refused

    def _apply_judged(
        self, name: str, app: DesiredApp, refs: Collection[ObjectRef], refused: Verdict
    ) -> list[Applied]:
        allowed = [ref for ref in refs if ref not in refused]
        applied = self.runtime.apply(name, app, only=allowed) if allowed else []
        return [refused[ref] for ref in refs if ref in refused] + applied

    def _refusal(
        self, ref: ObjectRef, res: Resource, policies: tuple[Policy, ...]
    ) -> Applied | None:
        problem = object_name_problem(ref.kind, ref.name, ref.namespace)
        if problem:
            return Applied(ref, f"not applied: {problem}", reason="InvalidName")
        meta = {**(res.get("metadata") or {}), "name": ref.name}
        if ref.namespace:
            meta["namespace"] = ref.namespace
        body = {**res, "metadata": meta}
        denied = check_all(policies, body, namespaced=bool(ref.namespace))
        if denied is not None:
            return Applied(ref, f"not applied: {denied}", reason="PolicyDenied")
        return None

    def _live(self, name: str, refs: list[ObjectRef]) -> dict[ObjectRef, dict[str, Any] | None]:
        """The live objects of `refs`, about to be applied for app `name`. A runtime with
        `prepare` reads them in fewer requests (the Kubernetes one creates a missing
        namespace first and reads nothing in it: a first apply), any other one object
        by object."""
        prepare = getattr(self.runtime, "prepare", None)
        if prepare is not None:
            found: dict[ObjectRef, dict[str, Any] | None] = prepare(name, refs)
            return found
        return {ref: self.runtime.get(ref) for ref in refs}

    def _record(self, name: str, results: list[Applied], *, partial: bool = False) -> None:
        errors = self._apply_errors.get(name, {}) if partial else {}
        for result in results:
            if result.ok:
                errors.pop(result.ref, None)
                if result.fingerprint is not None:
                    self._fingerprints[result.ref] = result.fingerprint
            else:
                if errors.get(result.ref) != result:  # retried each pass: say it once
                    log.warning("app %s: %s: %s", name, result.ref, result.error)
                errors[result.ref] = result
                self.counts.failed(result.reason or "ApplyFailed")
        self._apply_errors[name] = errors

    def _delete(self, name: str, refs: Iterable[ObjectRef]) -> dict[ObjectRef, str]:
        """Delete what `name` owned and left; what is not (or no longer) its own is
        forgotten, never deleted. Returns the refs that could not be deleted yet."""
        errors = {}
        for ref in refs:
            if ref in self._claimed:
                log.info("%s moved to another app; kept", ref)
                continue
            if object_name_problem(ref.kind, ref.name, ref.namespace):
                continue  # nothing by that name can exist: no request is built from it
            live = self.runtime.get(ref)
            if live is None:
                continue  # gone already
            keep = self._keep_reason(name, ref, live)
            if keep:
                log.info("app %s: %s left the document; not deleted: %s", name, ref, keep)
                continue
            error = self.runtime.delete(ref, uid=ownership.uid(live))
            self._fingerprints.pop(ref, None)
            self._drifted.pop(ref, None)
            if error:
                errors[ref] = error
                self.counts.failed("PruneFailed")
                log.warning("cannot delete %s: %s", ref, error)
            else:
                log.info("pruned %s", ref)
        return errors

    def _keep_reason(self, name: str, ref: ObjectRef, live: dict[str, Any]) -> str | None:
        """Why `name`'s prune must not delete the live object, or None to delete it.

        A Namespace the app made is kept while objects of the document still live in
        it: deleting it would delete them (other apps' among them)."""
        keep = ownership.keep_reason(name, live)
        in_use = any(claimed.namespace == ref.name for claimed in self._claimed)
        if keep is None and ref.kind == "Namespace" and not ref.namespace and in_use:
            keep = "objects of the document still live in it"
        return keep

    def _remove_apps(self, document: DesiredDocument) -> None:
        for name in sorted(set(self.inventory.apps) - set(document.apps)):
            self._isolated(name, partial(self._remove_app, name))

    def _remove_app(self, name: str) -> None:
        owned = self.inventory.apps[name]
        errors = self._delete(name, reversed(owned.objects))
        for table in (self._planned, self._apply_errors, self._prune_errors, self._app_errors):
            table.pop(name, None)
        if errors:
            owned.objects = [ref for ref in owned.objects if ref in errors]
            owned.digest = ""
        else:
            del self.inventory.apps[name]
            log.info("removed app %s", name)

    # --- drift -------------------------------------------------------------------------

    def reconcile(self) -> None:
        """The periodic pass: retry what failed, repair drift, finish removals."""
        document = self.document
        if document is None:
            return
        if self.needs_apply:
            self.apply(document, force=True)
            return
        try:
            plans = self._plan(document)
            retry = [
                name
                for name, app in document.apps.items()
                if not self._is_applied(name, app) or self._prune_errors.get(name)
            ]
            self._apply_apps(retry, document, plans)
            for name, app in document.apps.items():
                if name not in retry:
                    self._isolated(name, partial(self._repair_drift, name, app))
            self._remove_apps(document)
        except RuntimeUnavailable as exc:
            self._unavailable(exc)
        self._settle(document)

    def _repair_drift(self, name: str, app: DesiredApp) -> None:
        drifted: dict[ObjectRef, str] = {}
        for ref in self._planned.get(name, []):
            live = self.runtime.get(ref)
            known = self._fingerprints.get(ref)
            if live is None:
                drifted[ref] = "deleted by someone else; re-applied"
            elif known is not None and known.changed_in(live):
                drifted[ref] = "changed by someone else; re-applied"
            else:
                self._drifted.pop(ref, None)
        if not drifted:
            return
        for ref, what in drifted.items():
            log.warning("drift: app %s: %s %s", name, ref, what.split(";")[0])
        self._drifted.update(drifted)
        self.counts.drift_repairs += len(drifted)
        self._record(name, self._apply_allowed(name, app, drifted), partial=True)

    # --- observe -----------------------------------------------------------------------

    def observe(self) -> dict[str, AppStatus]:
        """Each desired app's state, from the live objects (empty before any document)."""
        document = self.document
        if document is None:
            return {}
        statuses = {}
        try:
            for name in document.apps:
                status = self._isolated(name, partial(self._observe_app, name))
                statuses[name] = status or AppStatus(
                    "Failed", self._app_errors[name], reason=AGENT_ERROR
                )
        except RuntimeUnavailable as exc:
            if not self.failure:
                self._unavailable(exc)
            return {name: AppStatus("Failed", self.failure) for name in document.apps}
        return statuses

    def _observe_app(self, name: str) -> AppStatus:
        if name in self._app_errors:
            return AppStatus("Failed", self._app_errors[name], reason=AGENT_ERROR)
        if name not in self._planned:
            if self.failure:
                return AppStatus("Failed", self.failure)
            return AppStatus("Progressing", "not applied yet")
        errors = self._apply_errors.get(name, {})
        failures: dict[str, str] = {}
        resources = []
        for ref in self._planned[name]:
            if ref in errors:
                failed = errors[ref]
                failures[str(ref)] = failed.error
                resources.append(
                    ResourceStatus(
                        ref.kind,
                        ref.namespace,
                        ref.name,
                        False,
                        failed.error,
                        reason=failed.reason or "ApplyFailed",
                    )
                )
                continue
            health = object_health(self.runtime.get(ref))
            if health.failed:
                failures[str(ref)] = health.message
            drift = self._drifted.get(ref, "")
            message = "; ".join(m for m in (health.message, drift) if m)
            resources.append(
                ResourceStatus(
                    ref.kind, ref.namespace, ref.name, health.ready, message, bool(drift)
                )
            )
        for ref, error in self._prune_errors.get(name, {}).items():
            failures[str(ref)] = f"left the document but cannot be deleted: {error}"
        return app_status(resources, failures)

    def removal_errors(self) -> list[str]:
        """Apps that left the document but whose objects could not all be deleted yet."""
        document = self.document
        desired = set(document.apps) if document else set()
        return sorted(
            f"{name} ({len(owned.objects)} objects left)"
            for name, owned in self.inventory.apps.items()
            if name not in desired
        )


def _resources_by_ref(app: DesiredApp) -> dict[ObjectRef, Resource]:
    """The app's manifests by every reference the runtime may plan for them (namespaced
    in their namespace, or cluster-scoped: the runtime knows which)."""
    found: dict[ObjectRef, Resource] = {}
    for res in app.resources:
        meta = res.get("metadata") or {}
        api_version, kind, name = str(res["apiVersion"]), str(res["kind"]), str(meta["name"])
        namespace = str(meta.get("namespace") or app.namespace or "")
        found[ObjectRef(api_version, kind, namespace, name)] = res
        found.setdefault(ObjectRef(api_version, kind, "", name), res)
    return found
