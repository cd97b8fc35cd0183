"""Kubernetes object names: the API server's own rules, by kind.

Both sides check names with this module: `shoal validate` and the controller's render
(controller/render/manifests.py) refuse a template producing a bad name, and the edge
(edge/reconciler.py, edge/runtime/kubernetes.py) checks every name and namespace
before it builds a request from it: a request path is made of names, so a name such
as `../../apps/v1/namespaces/prod/deployments/db` must never reach one.

The rules are the API server's (k8s.io/apimachinery validation):
- most kinds: a DNS-1123 subdomain (lowercase alphanumerics, `-` and `.`, at most 253);
- Namespace: a DNS-1123 label (no `.`, at most 63), and so is every object's namespace;
- Service: a DNS-1035 label (a label starting with a letter);
- RBAC kinds (Role, ClusterRole, RoleBinding, ClusterRoleBinding): a path segment (any
  text but `.` and `..`, without `/` or `%`): `system:controller:x` is valid there;
  shoal also refuses `?`, `#` and spaces, which would change a request's meaning.
Unknown kinds (custom resources) follow the subdomain rule, as the API server's
custom resource handler does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

SUBDOMAIN_MAX: Final = 253
LABEL_MAX: Final = 63

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_RE: Final = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_LABEL_RE: Final = re.compile(_LABEL)
_DNS1035_RE: Final = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")

LABEL_KINDS: Final = frozenset({"Namespace"})
DNS1035_KINDS: Final = frozenset({"Service"})
PATH_SEGMENT_KINDS: Final = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


def subdomain_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 subdomain, or None."""
    if len(value) > SUBDOMAIN_MAX:
        return f"must be no more than {SUBDOMAIN_MAX} characters (has {len(value)})"
    if not _SUBDOMAIN_RE.fullmatch(value):
        return (
            "must be a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' or '.',"
            " starting and ending with a letter or digit"
        )
    return None


def label_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 label, or None."""
    if len(value) > LABEL_MAX:
        return f"must be no more than {LABEL_MAX} characters (has {len(value)})"
    if not _LABEL_RE.fullmatch(value):
        return (
            "must be a lowercase RFC 1123 label: lowercase letters, digits or '-',"
            " starting and ending with a letter or digit"
        )
    return None


def dns1035_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1035 label (a label starting with a letter), or None."""
    if len(value) > LABEL_MAX:
        return f"must be no more than {LABEL_MAX} characters (has {len(value)})"
    if not _DNS1035_RE.fullmatch(value):
        return (
            "must be a lowercase RFC 1035 label: lowercase letters, digits or '-',"
            " starting with a letter and ending with a letter or digit"
        )
    return None


def path_segment_problem(value: str) -> str | None:
    """Why `value` cannot be one segment of a request path, or None.

    The API server refuses `.`, `..`, `/` and `%`; shoal also refuses `?`, `#`, spaces
    and control characters, which cannot travel unescaped in a request path."""
    if value in (".", ".."):
        return f"may not be {value!r}"
    for bad in ("/", "%", "?", "#"):
        if bad in value:
            return f"may not contain {bad!r}"
    if any(c.isspace() or not c.isprintable() for c in value):
        return "may not contain spaces or control characters"
    return None


def name_problem(kind: str, name: str) -> str | None:
    """Why `name` is not a valid name for an object of `kind`, or None."""
    if not name:
        return "must not be empty"
    if kind in LABEL_KINDS:
        return label_problem(name)
    if kind in DNS1035_KINDS:
        return dns1035_problem(name)
    if kind in PATH_SEGMENT_KINDS:
        return path_segment_problem(name)
    return subdomain_problem(name)


def namespace_problem(namespace: str) -> str | None:
    """Why `namespace` cannot be a namespace, or None ("" means none: fine)."""
    return label_problem(namespace) if namespace else None


def object_name_problem(kind: str, name: str, namespace: str = "") -> str | None:
    """`metadata.name: Invalid value "a_b": must be ...` for an object, or None."""
    problem = name_problem(kind, name)
    if problem:
        return f"metadata.name: invalid value {name[:80]!r}: {problem}"
    problem = namespace_problem(namespace)
    if problem:
        return f"metadata.namespace: invalid value {namespace[:80]!r}: {problem}"
    return None


def manifest_name_problem(obj: Mapping[str, Any]) -> str | None:
    """`object_name_problem` for a manifest (a mapping with kind and metadata)."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return "metadata is missing"
    name, namespace = meta.get("name"), meta.get("namespace") or ""
    if not isinstance(name, str) or not isinstance(namespace, str):
        return "metadata.name and metadata.namespace must be strings"
    return object_name_problem(str(obj.get("kind") or ""), name, namespace)
