"""The JSON Schemas for the files people write: valid 2020-12, strict, documented."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

import schemas

FILE_SCHEMAS = ("fleet", "node", "group", "app")


@pytest.mark.parametrize("name", FILE_SCHEMAS)
def test_schema_is_valid_and_strict(name: str) -> None:
    schema = schemas.load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["description"]


@pytest.mark.parametrize("name", FILE_SCHEMAS)
def test_every_field_has_a_description_for_editors(name: str) -> None:
    properties: dict[str, Any] = schemas.load_schema(name)["properties"]
    assert {key for key, spec in properties.items() if not spec.get("description")} == set()


@pytest.mark.parametrize(
    ("name", "document", "valid"),
    [
        ("fleet", {"name": "acme", "topicPrefix": "acme/shoal", "vars": {"a": 1}}, True),
        ("fleet", {"name": "acme", "topicPrefix": "a/+/b"}, False),
        ("node", {"name": "paris-gw-01", "tags": {"site": "paris"}, "runtime": {"k": 1}}, False),
        ("node", {"name": "Paris"}, False),
        ("group", {"selector": "site=paris", "priority": 10}, True),
        ("group", {"selector": "site=paris", "priority": "high"}, False),
        ("app", {"name": "web", "version": "1", "selector": "", "namespace": "web"}, True),
        ("app", {"name": "web", "version": 1, "selector": "", "namespace": "web"}, False),
    ],
)
def test_examples(name: str, document: dict[str, Any], valid: bool) -> None:
    assert schemas.validator(name).is_valid(document) is valid
