"""What a rendered template must produce, and what shoal adds to each object.

`rendering` calls `parse_objects` on each template's output: multi-document YAML whose
documents must be Kubernetes objects (a mapping with apiVersion, kind and
metadata.name) named as the API server requires for their kind (shadow/names.py).
Namespaced objects without a namespace get the app's; every object gets the labels
the edge uses to find and prune what shoal applied. `policy_problems` refuses
objects the app's policy (fleet.yaml, app.yaml; shadow/policy.py) does not allow. `duplicates`
refuses an app rendering the same object twice, `shared_objects` two apps of one node
rendering the same object (the edge would hand it back and forth and prune it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.fleet.model import App
from controller.fleet.problems import Problem
from controller.fleet.yamlreader import YamlSyntaxError, load_all
from shadow import DesiredApp, shoal_labels
from shadow.names import manifest_name_problem
from shadow.policy import DEFAULT_POLICY, check_all

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
    return objects_from_documents(app, file, documents)


def objects_from_documents(
    app: App, file: str, documents: list[Any]
) -> list[dict[str, Any]] | Problem:
    """`parse_objects` after the YAML parse: each document checked, finished in place."""
    objects = []
    for index, obj in enumerate(d for d in documents if d is not None):
        missing = _not_an_object(obj)
        if missing:
            return Problem(
                file,
                f"rendered document {index + 1} is not a Kubernetes object: {missing}",
                app=app.name,
            )
        obj = _finish(app, obj)
        bad_name = manifest_name_problem(obj)
        if bad_name:
            return Problem(
                file,
                f"rendered document {index + 1} ({obj['kind']}): {bad_name}",
                app=app.name,
            )
        objects.append(obj)
    return objects


def policy_problems(app: App, resources: list[dict[str, Any]], files: list[str]) -> list[Problem]:
    """One Problem per object the app's policy refuses; `files[i]` rendered `resources[i]`."""
    policies = app.policy or (DEFAULT_POLICY,)
    problems = []
    for obj, file in zip(resources, files, strict=True):
        namespaced = obj["kind"] not in CLUSTER_SCOPED_KINDS
        refusal = check_all(policies, obj, namespaced)
        if refusal is not None:
            problems.append(
                Problem(file, f"{describe(object_key(obj))}: {refusal.message}", app=app.name)
            )
    return problems


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
    for field in ("labels", "annotations"):
        values = metadata.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            return f"metadata.{field} must be a mapping"
        # The API server refuses anything else; say so here rather than on the node.
        for key, value in values.items():
            if not isinstance(key, str) or not isinstance(value, str):
                wrong = key if not isinstance(key, str) else value
                return (
                    f"metadata.{field}.{key}: keys and values must be strings, got"
                    f" {type(wrong).__name__} {wrong!r} (quote it, or use `| string | to_json`)"
                )
    if "namespace" in metadata and not isinstance(metadata["namespace"], str):
        return "metadata.namespace must be a string"
    return ""


def _finish(app: App, obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj["metadata"]
    if obj["kind"] not in CLUSTER_SCOPED_KINDS and not metadata.get("namespace"):
        metadata["namespace"] = app.namespace
    metadata["labels"] = {**(metadata.get("labels") or {}), **shoal_labels(app.name)}
    return obj


ObjectKey = tuple[str, str, str, str]  # what `object_key` gives


def object_key(obj: dict[str, Any]) -> ObjectKey:
    """What identifies an object in a cluster: API group, kind, namespace, name."""
    api_version: str = obj["apiVersion"]
    return (
        api_version.split("/")[0] if "/" in api_version else "",
        obj["kind"],
        obj["metadata"].get("namespace", ""),
        obj["metadata"]["name"],
    )


def describe(key: tuple[str, str, str, str]) -> str:
    """`ConfigMap web/settings` (namespaced) or `ClusterRole reader`."""
    return f"{key[1]} {key[2] + '/' if key[2] else ''}{key[3]}"


def duplicates(app: App, resources: list[dict[str, Any]], files: list[str]) -> list[Problem]:
    """One Problem per object the app renders twice; `files[i]` rendered `resources[i]`."""
    seen: dict[tuple[str, str, str, str], str] = {}
    problems = []
    for obj, file in zip(resources, files, strict=True):
        key = object_key(obj)
        first = seen.get(key)
        if first is None:
            seen[key] = file
        else:
            where = f"{first} and {file}" if first != file else file
            problems.append(
                Problem(
                    app.file,
                    f"the app renders {describe(key)} twice (in {where})",
                    app=app.name,
                )
            )
    return problems


def object_keys(desired: DesiredApp) -> list[ObjectKey]:
    """`object_key` of each of the entry's objects."""
    return [object_key(obj) for obj in desired.resources]


def shared_objects(apps: Mapping[str, App], resources: Mapping[str, DesiredApp]) -> list[Problem]:
    """One Problem per object that two of a node's apps both render.

    Each app owns what it applies (the edge labels it with the app and prunes it when
    the app no longer renders it), so one object cannot belong to two apps.
    """
    return shared_keys(apps, [(name, object_keys(desired)) for name, desired in resources.items()])


def shared_keys(
    apps: Mapping[str, App], keys: Iterable[tuple[str, Iterable[ObjectKey]]]
) -> list[Problem]:
    """`shared_objects` from each app's name and its objects' `object_key`s."""
    owner: dict[ObjectKey, str] = {}
    problems = []
    for name, found in keys:
        for key in found:
            first = owner.setdefault(key, name)
            if first != name:
                problems.append(
                    Problem(
                        apps[name].file,
                        f"{describe(key)} is also rendered by app {first}: an object can belong"
                        " to one app only (rename it, or move it to another namespace)",
                        app=name,
                    )
                )
    return problems
