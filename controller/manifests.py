"""What a rendered template must produce, and what shoal adds to each object.

`rendering` calls `parse_objects` on each template's output: multi-document YAML whose
documents must be Kubernetes objects (a mapping with apiVersion, kind and
metadata.name). Namespaced objects without a namespace get the app's; every object
gets the labels the edge uses to find and prune what shoal applied. `duplicates`
refuses an app rendering the same object twice.
"""

from __future__ import annotations

from typing import Any

from controller.model import App
from controller.problems import Problem
from controller.yamlreader import YamlSyntaxError, load_all

MANAGED_BY = {"app.kubernetes.io/managed-by": "shoal"}
APP_LABEL = "shoal.dev/app"

# Kinds that live outside namespaces; every other kind gets the app namespace.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "CertificateSigningRequest",
        "FlowSchema",
        "PriorityLevelConfiguration",
    }
)


def parse_objects(app: App, file: str, text: str) -> list[dict[str, Any]] | Problem:
    """Parse one template's output into labelled Kubernetes objects, or one Problem."""
    try:
        documents = list(load_all(text))
    except YamlSyntaxError as exc:
        return Problem(
            file,
            f"rendered output is not valid YAML (line {exc.line} of the output): "
            + exc.message.removeprefix("invalid YAML: "),
            app=app.name,
        )
    objects = []
    for index, obj in enumerate(d for d in documents if d is not None):
        missing = _not_an_object(obj)
        if missing:
            return Problem(
                file,
                f"rendered document {index + 1} is not a Kubernetes object: {missing}",
                app=app.name,
            )
        objects.append(_finish(app, obj))
    return objects


def _not_an_object(obj: Any) -> str:
    if not isinstance(obj, dict):
        return f"expected a mapping with apiVersion, kind and metadata.name, got {type(obj).__name__} {str(obj)[:40]!r}"
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            return f"{key} is missing or not a string"
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return "metadata is missing or not a mapping"
    if not isinstance(metadata.get("name"), str) or not metadata["name"]:
        return "metadata.name is missing or not a string"
    labels = metadata.get("labels")
    if labels is not None and not isinstance(labels, dict):
        return "metadata.labels must be a mapping"
    if "namespace" in metadata and not isinstance(metadata["namespace"], str):
        return "metadata.namespace must be a string"
    return ""


def _finish(app: App, obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj["metadata"]
    if obj["kind"] not in CLUSTER_SCOPED_KINDS and not metadata.get("namespace"):
        metadata["namespace"] = app.namespace
    metadata["labels"] = {**(metadata.get("labels") or {}), **MANAGED_BY, APP_LABEL: app.name}
    return obj


def duplicates(app: App, resources: list[dict[str, Any]]) -> list[Problem]:
    seen: set[tuple[str, str, str, str]] = set()
    problems = []
    for obj in resources:
        key = (
            obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else "",
            obj["kind"],
            obj["metadata"].get("namespace", ""),
            obj["metadata"]["name"],
        )
        if key in seen:
            where = f"{key[1]} {key[2] + '/' if key[2] else ''}{key[3]}"
            problems.append(Problem(app.file, f"the app renders {where} twice", app=app.name))
        seen.add(key)
    return problems
