"""The few validation rules of the real server that a manifest author hits first.

Names (RFC 1123 subdomain, or label for Namespace and Service), label keys and
values, and for pod-owning workloads a selector that matches the template labels
and containers with a name and an image. Each rule returns causes in the real
server's wording; `store.py` turns them into a 422 Invalid. Anything beyond these
rules is accepted (see docs/kubernetes-stand-in.md).
"""

from __future__ import annotations

import re
from typing import Any

from shoal.kubesim import errors
from shoal.kubesim.catalog import Kind

Cause = tuple[str, str, str]  # field, reason, message

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_DNS_LABEL = re.compile(_LABEL)
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")

_SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_DNS_LABEL_HELP = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)

_LABEL_NAMED = {"Namespace", "Service"}
_POD_TEMPLATES = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


def _name(kind: str, name: str) -> list[Cause]:
    if kind in _LABEL_NAMED:
        if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
            return [
                (
                    "metadata.name",
                    "FieldValueInvalid",
                    f'Invalid value: "{name}": {_DNS_LABEL_HELP}',
                )
            ]
    elif len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
        return [
            ("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {_SUBDOMAIN_HELP}')
        ]
    return []


def _labels(labels: Any, field: str) -> list[Cause]:
    if not isinstance(labels, dict):
        return []
    causes: list[Cause] = []
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (
            len(name) > 63
            or not _QUALIFIED_NAME.fullmatch(name)
            or (prefix and not _SUBDOMAIN.fullmatch(prefix))
        ):
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f"Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f"Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                )
            )
    return causes


def _pod_template(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not spec.get("selector"):
        causes.append(("spec.selector", "FieldValueRequired", "Required value"))
    elif any(labels.get(k) != v for k, v in selector.items()):
        causes.append(
            (
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {labels!r}: `selector` does not match template `labels`",
            )
        )
    containers = (template.get("spec") or {}).get("containers")
    if not containers:
        causes.append(("spec.template.spec.containers", "FieldValueRequired", "Required value"))
    else:
        for index, container in enumerate(containers):
            for field in ("name", "image"):
                if not isinstance(container, dict) or not container.get(field):
                    causes.append(
                        (
                            f"spec.template.spec.containers[{index}].{field}",
                            "FieldValueRequired",
                            "Required value",
                        )
                    )
    return causes


def validate(obj: dict[str, Any]) -> list[Cause]:
    """The causes that make the real server refuse `obj`; empty when it would accept it."""
    kind = obj.get("kind", "")
    metadata = obj.get("metadata") or {}
    causes = _name(kind, str(metadata.get("name", "")))
    causes += _labels(metadata.get("labels"), "metadata.labels")
    if kind in _POD_TEMPLATES:
        causes += _pod_template(obj)
    return causes


def check_body(
    kind: Kind, body: Any, namespace: str | None, name: str | None, apply: bool = False
) -> None:
    """400 Bad Request when a body does not fit its URL: not an object, another kind or
    apiVersion, another name or namespace (`apply`: apiVersion and kind are required)."""
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


# Fields the real API types declare as map[string]string; a number or a boolean
# there is the most common manifest mistake (`port: 8080` in a ConfigMap).
_STRING_MAPS = {
    "": (("metadata", "labels"), ("metadata", "annotations")),
    "ConfigMap": (("data",), ("binaryData",)),
    "Secret": (("data",), ("stringData",)),
}
_WORKLOAD_STRING_MAPS = (
    ("spec", "selector", "matchLabels"),
    ("spec", "template", "metadata", "labels"),
    ("spec", "template", "metadata", "annotations"),
)


def _go_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "..."


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


def type_errors(obj: dict[str, Any]) -> list[tuple[str, Any]]:
    """(dotted path, value) of every non-string value in a string-only map."""
    kind = obj.get("kind", "")
    paths = list(_STRING_MAPS[""]) + list(_STRING_MAPS.get(kind, ()))
    if kind in _POD_TEMPLATES:
        paths += _WORKLOAD_STRING_MAPS
    found: list[tuple[str, Any]] = []
    for path in paths:
        node: Any = obj
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            found += [
                ("." + ".".join((*path, str(k))), v)
                for k, v in node.items()
                if not isinstance(v, str) and v is not None
            ]
    return found


def check_types(kind: Kind, obj: dict[str, Any]) -> None:
    """400, as the real server's JSON decoding answers a wrong type in a create or update."""
    found = type_errors(obj)
    if found:
        path, value = found[0]
        parts = path.strip(".").split(".")
        go_field = (
            f"ObjectMeta.metadata.{parts[1]}"
            if parts[0] == "metadata"
            else f"{kind.kind}.{'.'.join(parts[:-1])}"
        )
        raise errors.bad_request(
            f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
            f"json: cannot unmarshal {_go_kind(value)} into Go struct field {go_field} of type string"
        )


def check_apply_types(kind: Kind, namespace: str | None, name: str, config: dict[str, Any]) -> None:
    """What the real server answers an apply configuration with a wrong type or an
    undeclared field: a 500 with the structured-merge-diff message (`kubectl apply
    --server-side` shows it verbatim)."""
    lines = [
        f"{path}: expected string, got &value.valueUnstructured{{Value:{_go_value(value)}}}"
        for path, value in type_errors(config)
    ]
    lines += [f"{path}: field not declared in schema" for path in unknown_fields(config)]
    if not lines:
        return
    where = f"{namespace}/{name}" if namespace else f"/{name}"
    what = f"({where}; {kind.group}/{kind.version}, Kind={kind.kind})"
    detail = lines[0] if len(lines) == 1 else "errors:\n  " + "\n  ".join(lines)
    raise errors.ApiError(500, "", f"failed to create typed patch object {what}: {detail}", None)


# The top-level fields each kind's schema declares, besides apiVersion, kind, metadata.
_FIELDS_BY_KIND = {
    "ConfigMap": {"data", "binaryData", "immutable"},
    "Secret": {"data", "stringData", "type", "immutable"},
    "ServiceAccount": {"secrets", "imagePullSecrets", "automountServiceAccountToken"},
    "Role": {"rules"},
    "ClusterRole": {"rules", "aggregationRule"},
    "RoleBinding": {"subjects", "roleRef"},
    "ClusterRoleBinding": {"subjects", "roleRef"},
}
_SPEC_AND_STATUS = {"spec", "status"}
_METADATA_FIELDS = {
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
}


def unknown_fields(obj: dict[str, Any]) -> list[str]:
    """Dotted paths of top-level and metadata fields the kind's schema does not declare
    (deeper fields are not checked)."""
    allowed = {"apiVersion", "kind", "metadata"} | _FIELDS_BY_KIND.get(
        obj.get("kind", ""), _SPEC_AND_STATUS
    )
    found = [f".{key}" for key in obj if key not in allowed]
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        found += [f".metadata.{key}" for key in metadata if key not in _METADATA_FIELDS]
    return found


def drop_unknown_fields(obj: dict[str, Any]) -> None:
    """What the real server does with unknown fields in a create or update (with the
    default fieldValidation=Warn): it drops them."""
    for path in unknown_fields(obj):
        parts = path.strip(".").split(".")
        (obj["metadata"] if len(parts) == 2 else obj).pop(parts[-1], None)
