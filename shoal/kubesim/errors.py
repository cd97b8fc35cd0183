"""API errors as the real server words them, and their `Status` documents.

Every failure the stand-in answers with is an `ApiError`; the HTTP layer turns it
into a `Status` object (kind Status, apiVersion v1, status Failure, message,
reason, details, code) with the same HTTP code. The constructors below copy the
real server's messages so clients that match on them behave the same here.
"""

from __future__ import annotations

from typing import Any

from shoal.kubesim.catalog import Kind


class ApiError(Exception):
    """A request the API server refuses, with the Status it answers."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            doc["details"] = self.details
        return doc


def _details(kind: Kind, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind.plural}
    if kind.group:
        details["group"] = kind.group
    return details


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{kind.qualified_plural} "{name}" not found', _details(kind, name)
    )


def namespace_not_found(name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'namespaces "{name}" not found', {"name": name, "kind": "namespaces"}
    )


def namespace_terminating(kind: Kind, name: str, namespace: str) -> ApiError:
    """403 for new content in a namespace being deleted."""
    message = (
        f"unable to create new content in namespace {namespace} because it is being terminated"
    )
    details = _details(kind, name)
    details["causes"] = [
        {"reason": "NamespaceTerminating", "message": message, "field": "metadata.namespace"}
    ]
    return ApiError(
        403, "Forbidden", f'{kind.qualified_plural} "{name}" is forbidden: {message}', details
    )


def already_exists(kind: Kind, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{kind.qualified_plural} "{name}" already exists',
        _details(kind, name),
    )


def conflict(kind: Kind, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.qualified_plural} "{name}": {why}',
        _details(kind, name),
    )


def check_preconditions(
    kind: Kind, name: str, meta: dict[str, Any], wanted: dict[str, str]
) -> None:
    """A delete's DeleteOptions.preconditions (uid, resourceVersion) against the object."""
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        if field in wanted and wanted[field] != meta.get(field):
            raise conflict(
                kind,
                name,
                f"Precondition failed: {label} in precondition: {wanted[field]},"
                f" {label} in object meta: {meta.get(field)}",
            )


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def apply_conflict(conflicts: list[tuple[str, str]]) -> ApiError:
    """409 for server-side apply: fields another manager owns, and `force` was not set.

    `conflicts` are (manager as the message names it, field path such as
    `.spec.replicas`); the wording follows the real server's, grouped by manager.
    """
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {manager}: {path}"
    else:
        lines = []
        for manager in sorted({m for m, _ in conflicts}):
            lines.append(f"conflicts with {manager}:")
            lines += [f"- {path}" for m, path in conflicts if m == manager]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {manager}", "field": path}
        for manager, path in conflicts
    ]
    return ApiError(409, "Conflict", message, {"causes": causes})


def invalid(kind: Kind, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid. `causes` are (field, cause reason, message), e.g.
    ("spec.selector", "FieldValueRequired", "Required value")."""
    text = ", ".join(f"{field}: {message}" for field, _, message in causes)
    details = {
        "name": name,
        "group": kind.group,
        "kind": kind.kind,
        "causes": [
            {"reason": reason, "message": message, "field": field}
            for field, reason, message in causes
        ],
    }
    if not kind.group:
        del details["group"]
    return ApiError(422, "Invalid", f'{kind.qualified_kind} "{name}" is invalid: {text}', details)


def field_manager_required() -> ApiError:
    """422 for an apply without ?fieldManager= (the real server validates PatchOptions)."""
    return ApiError(
        422,
        "Invalid",
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
        "is required for apply patch",
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


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({method})",
    )


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json-patch+json, application/merge-patch+json, "
        f'application/apply-patch+yaml, application/strategic-merge-patch+json (got "{content_type}")',
    )


def path_not_found(path: str) -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
