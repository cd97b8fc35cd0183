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
