"""Checking rendered objects against the Kubernetes API schema of their kind.

`rendering` calls `KubernetesSchemas.check` once per distinct rendered object (the
parse memo shares objects between nodes), for the version in `kubernetesVersion:` of
fleet.yaml. The schemas are those the `kubernetes-validate` package bundles (one
folder per Kubernetes minor version; the newest not above the target is used),
compiled with `fastjsonschema` once per kind and process: about 40 µs per object,
where a generic validator takes 1.5 ms. The non-strict schemas are used, as the API
server's own check: a field it does not know is dropped with a warning, a value of
the wrong type (`replicas: "3"`, a number in ConfigMap `data`) is refused.

Types, formats and values are checked; the schemas' `required` lists are not (they
are incomplete, and the API server names a missing field itself), so a minimal object
used in a test or a demo still renders. A kind the schemas do not have (a custom
resource) is allowed; `check` says so in a note instead of a problem.
`free_strings` says whether a verdict holds for any string of the same length at
given fields (the schema judges them by type and length only): `stamps` asks it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

_BUNDLE = "kubernetes-json-schema"


@dataclass(frozen=True)
class SchemaCheck:
    """What the schema says of one object: `problem` (field, message), or a `note`."""

    problem: tuple[str, str] | None = None
    note: str | None = None


OK = SchemaCheck()


@cache
def bundled_versions() -> tuple[tuple[int, int], ...]:
    """The (major, minor) versions whose schemas are bundled, oldest first."""
    found = set()
    for entry in resources.files("kubernetes_validate").joinpath(_BUNDLE).iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local", entry.name)
        if match:
            found.add((int(match[1]), int(match[2])))
    return tuple(sorted(found))


def _major_minor(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")[:2]
    return int(major), int(minor)


class KubernetesSchemas:
    """The schemas of one Kubernetes version; `check(obj)` per object."""

    def __init__(self, version: str) -> None:
        wanted = _major_minor(version)
        usable = [v for v in bundled_versions() if v <= wanted]
        if not usable:
            raise ValueError(f"no Kubernetes schemas for version {version}")
        major, minor = usable[-1]
        self.version = f"{major}.{minor}"
        self.folder = f"v{major}.{minor}.0-local"

    def knows(self, api_version: str, kind: str) -> bool:
        """True when the schemas have this kind (False: a custom resource, unchecked)."""
        return _validator(self.folder, api_version, kind) is not None

    def check(self, obj: dict[str, Any]) -> SchemaCheck:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        validate = _validator(self.folder, api_version, kind)
        if validate is None:
            return SchemaCheck(
                note=f"{kind} ({api_version}) is not a kind of the Kubernetes {self.version} "
                "API (a custom resource?): its fields are not checked"
            )
        try:
            validate(obj)
        except fastjsonschema.JsonSchemaValueException as exc:
            path = ".".join(
                f"[{p}]" if p.isdigit() else p for p in (str(part) for part in exc.path[1:])
            ).replace(".[", "[")
            message = exc.message.removeprefix(f"{exc.name} ").replace(" or null", "")
            return SchemaCheck(problem=(path, message))
        except RecursionError:
            return SchemaCheck(problem=("", "nested too deeply to check"))
        return OK

    def free_strings(self, obj: dict[str, Any], paths: Iterable[Path]) -> bool:
        """True when `check(obj)` says the same whatever strings of the same length
        stand at `paths` (keys and list indexes from the top of `obj`): along each path
        the schema constrains strings by type and length only, no pattern, format,
        enum or anything this walk does not know (then it says False)."""
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        return _free_paths(self.folder, api_version, kind, tuple(tuple(path) for path in paths))


Path = Sequence[str | int]


@cache
def _free_paths(
    folder: str, api_version: str, kind: str, paths: tuple[tuple[str | int, ...], ...]
) -> bool:
    if _validator(folder, api_version, kind) is None:
        return True  # a custom resource: its fields are not checked at all
    schema = _schema(folder, api_version, kind)
    definitions = _definitions(folder).get("$defs", {})
    return all(_free(schema, path, definitions, 0) for path in paths)


# Keywords that judge a string by its type and length alone, or describe, or lead on.
_INERT = frozenset(
    {
        "type",
        "description",
        "title",
        "default",
        "minLength",
        "maxLength",
        "$ref",
        "$schema",
        "$id",
        "$defs",
        "properties",
        "additionalProperties",
        "items",
        "oneOf",
        "anyOf",
        "allOf",
    }
)


def _free(
    schema: Any, path: tuple[str | int, ...], definitions: dict[str, Any], depth: int
) -> bool:
    """True when `schema` and what it leads to along `path` judge the string at its end
    by type and length alone (see `KubernetesSchemas.free_strings`)."""
    if schema is True or schema is False:
        return True  # anything, or nothing, whatever the string
    if not isinstance(schema, dict) or depth > 100:
        return False
    if any(key not in _INERT and not key.startswith("x-") for key in schema):
        return False
    ref = schema.get("$ref")
    if ref is not None:
        where, _, target = ref.partition("#/$defs/") if isinstance(ref, str) else ("?", "", "")
        if where and not where.endswith("/api/_definitions.json"):
            return False  # (compiling rewrites a reference to its absolute form)
        if target not in definitions or not _free(
            definitions[target], path, definitions, depth + 1
        ):
            return False
    for keyword in ("oneOf", "anyOf", "allOf"):
        branches = schema.get(keyword, [])
        if not isinstance(branches, list):
            return False
        if not all(_free(branch, path, definitions, depth + 1) for branch in branches):
            return False
    if not path:
        return True
    step, rest = path[0], path[1:]
    inner: Any
    if isinstance(step, str):
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            return False
        inner = properties.get(step, schema.get("additionalProperties", True))
    else:
        inner = schema.get("items", True)
    return _free(inner, rest, definitions, depth + 1)


_lock = threading.Lock()
_validators: dict[tuple[str, str, str], Callable[[Any], Any] | None] = {}


def _validator(folder: str, api_version: str, kind: str) -> Callable[[Any], Any] | None:
    key = (folder, api_version, kind)
    with _lock:
        if key not in _validators:
            _validators[key] = _compile(folder, api_version, kind)
        return _validators[key]


@cache
def _definitions(folder: str) -> dict[str, Any]:
    text = resources.files("kubernetes_validate").joinpath(_BUNDLE, folder, "_definitions.json")
    data: dict[str, Any] = _without_required(json.loads(text.read_text("utf-8")))
    return data


def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


@cache
def _schema(folder: str, api_version: str, kind: str) -> dict[str, Any] | None:
    """The kind's schema as bundled (without `required`), or None when there is none."""
    # apps/v1 -> apps-v1, rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    if not re.fullmatch(r"[a-z0-9-]+", group) or not re.fullmatch(r"[A-Za-z0-9]+", kind):
        return None
    entry = resources.files("kubernetes_validate").joinpath(
        _BUNDLE, folder, f"{kind.lower()}-{group}.json"
    )
    if not entry.is_file():
        return None
    schema: dict[str, Any] = _without_required(json.loads(entry.read_text("utf-8")))
    kinds = (schema.get("properties", {}).get("kind") or {}).get("enum") or []
    if kinds and kind not in kinds:  # file names are lowercase: `configMap` is no kind
        return None
    return schema


def _compile(folder: str, api_version: str, kind: str) -> Callable[[Any], Any] | None:
    schema = _schema(folder, api_version, kind)
    if schema is None:
        return None
    definitions = _definitions(folder)
    validate: Callable[[Any], Any] = fastjsonschema.compile(
        schema, handlers={"https": lambda uri: definitions}, use_default=False
    )
    return validate
