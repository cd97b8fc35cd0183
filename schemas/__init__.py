"""JSON Schemas (draft 2020-12) for every file a person writes and both shadow documents.

The `.json` files beside this module are the source of truth (editors and CI can use
them directly); this module loads them and hands out cached validators.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

NAMES = ("fleet", "node", "group", "app", "desired", "reported", "agent", "secret")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema document `schemas/<name>.schema.json`."""
    if name not in NAMES:
        raise KeyError(f"no schema named {name!r}; known: {', '.join(NAMES)}")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def validator(name: str) -> Draft202012Validator:
    """A reusable validator for `schemas/<name>.schema.json` (format checks on)."""
    return Draft202012Validator(
        load_schema(name),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
        registry=_registry(),
    )


@cache
def _registry() -> Registry:
    """Every schema by its `$id`, so one may `$ref` another (`agent.schema.json`)."""
    return Registry().with_resources(
        (load_schema(n)["$id"], Resource.from_contents(load_schema(n))) for n in NAMES
    )
