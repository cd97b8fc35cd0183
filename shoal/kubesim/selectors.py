"""Label and field selectors for LIST and DELETE-collection requests.

Label selectors use the API server's string syntax: `a=b`, `a==b`, `a!=b`,
`a in (x,y)`, `a notin (x,y)`, `a` (exists) and `!a` (does not exist), joined by
commas. Field selectors take `=`, `==` and `!=` on any dotted path into the
object (`metadata.name`, `metadata.namespace`, `status.phase`, `spec.nodeName`,
`type`...); a missing field compares as "". The real server accepts only a few
fields per kind and refuses others with 400; this one is more lenient. A
malformed selector is a 400, as on the real server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from shoal.kubesim.errors import bad_request

Requirement = Callable[[Mapping[str, str]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<notkey>![A-Za-z0-9][-A-Za-z0-9_./]*)
      | (?P<setkey>[A-Za-z0-9][-A-Za-z0-9_./]*)\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\)
      | (?P<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s*(?:(?P<op>==|!=|=)\s*(?P<value>[-A-Za-z0-9_.]*))?
    )\s*(?:,|$)""",
    re.VERBOSE,
)


def _requirement(match: re.Match[str]) -> Requirement:
    if match["notkey"]:
        key = match["notkey"][1:]
        return lambda labels: key not in labels
    if match["setkey"]:
        key, values = match["setkey"], {v.strip() for v in match["values"].split(",") if v.strip()}
        if match["setop"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    key, op, value = match["key"], match["op"], match["value"]
    if op is None:
        return lambda labels: key in labels
    if op == "!=":
        return lambda labels: labels.get(key) != value
    return lambda labels: labels.get(key) == value


def parse_label_selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """Compile a label selector; raise a 400 ApiError when it does not parse."""
    requirements: list[Requirement] = []
    position, text = 0, text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise bad_request(f"unable to parse requirement: found '{text[position:]}'")
        requirements.append(_requirement(match))
        position = match.end()
    return lambda labels: all(r(labels) for r in requirements)


def _field(obj: Any, path: list[str]) -> str:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return ""
        obj = obj[key]
    if isinstance(obj, bool):
        return "true" if obj else "false"
    return "" if obj is None or isinstance(obj, dict | list) else str(obj)


def _field_check(path: list[str], equal: bool, value: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: (_field(obj, path) == value) == equal


def parse_field_selector(text: str) -> Callable[[dict[str, Any]], bool]:
    """Compile a field selector (dotted paths into the object)."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        match = re.fullmatch(r"([A-Za-z][A-Za-z0-9.]*)\s*(==|!=|=)\s*(.*)", term)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, value = match.groups()
        checks.append(_field_check(field.split("."), op != "!=", value))
    return lambda obj: all(c(obj) for c in checks)
