"""Which live objects are shoal's, for which app: the edge's rules before apply and prune.

Like Helm's release ownership. The reconciler (edge/reconciler.py) asks `refusal`
before applying an object that already exists, and `keep_reason` before deleting one:
- an existing object is taken only when its live labels say shoal made it for this
  app (`app.kubernetes.io/managed-by: shoal`, `shoal.dev/app: <app>`), for another app
  of this node (an object moving between apps), or — a Namespace only — for no app in
  particular (one shoal created because apps put objects in it); or when the template
  opts in with the annotation `shoal.dev/adopt: "true"`;
- an object is deleted only when its live labels say shoal and this very app, and the
  delete carries the live uid as a precondition (edge/runtime/kubernetes.py), so an
  object deleted and re-created by someone else meanwhile stays.
Everything else (a `kube-system` Namespace, someone's ClusterRoleBinding, a Helm
release's Deployment) is left alone and reported as `NotOwned`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from edge.runtime import ObjectRef
from shadow import ADOPT_ANNOTATION, APP_LABEL, MANAGED_BY, MANAGED_BY_LABEL

NOT_OWNED = "NotOwned"


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata") or {}
    return meta.get("labels") or {}


def opts_in(desired: Mapping[str, Any]) -> bool:
    """The template asks to take the object over: `shoal.dev/adopt: "true"`."""
    annotations = (desired.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(ADOPT_ANNOTATION, "")).lower() == "true"


def owner(live: Mapping[str, Any]) -> str | None:
    """The app shoal made `live` for ("" when for none in particular), None if not shoal's."""
    labels = _labels(live)
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return None
    return str(labels.get(APP_LABEL) or "")


def refusal(
    app: str,
    ref: ObjectRef,
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    node_apps: Collection[str],
) -> str | None:
    """Why `app` may not apply `desired` over the existing `live` object, or None."""
    if live is None or opts_in(desired):
        return None
    made_for = owner(live)
    if made_for == app or (made_for and made_for in node_apps):
        return None
    if made_for is not None and ref.kind == "Namespace" and not ref.namespace:
        return None
    if made_for is None:
        managed = _labels(live).get(MANAGED_BY_LABEL)
        why = f"managed by {managed}" if managed else f"no label {MANAGED_BY_LABEL}: {MANAGED_BY}"
    else:
        why = f"shoal made it for app {made_for or '(none)'}, which this node does not run"
    return (
        f"{ref} already exists and shoal did not create it for app {app} ({why}):"
        f' left alone; to take it over, annotate it {ADOPT_ANNOTATION}: "true" in the template'
    )


def keep_reason(app: str, live: Mapping[str, Any]) -> str | None:
    """Why pruning `app` must not delete `live`, or None when it is the app's to delete."""
    made_for = owner(live)
    if made_for is None:
        return "its labels do not say shoal made it"
    if made_for != app:
        return f"its labels say it belongs to app {made_for or '(none)'}"
    return None


def uid(live: Mapping[str, Any]) -> str:
    return str((live.get("metadata") or {}).get("uid") or "")
