"""`{{ secret("NAME") }}`: a sealed secret in a template, for the node being rendered.

The render context's `node.secrets` holds, per secret of the fleet, the sealed token for
this node (shadow/sealing.py) or why there is none; `secret()` (a sandbox global) returns
the token, so the template's output carries ciphertext only. `references` records a call
`secret("NAME")` as reading `node.secrets.NAME`: the render is node-specific exactly where
a secret is used, and the memo stays exact. `sealed_problems` refuses a token anywhere
but a value of a Secret's `data` or `stringData`. Called by `rendering` and `sandbox`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import jinja2

from controller.fleet.model import Fleet, Node
from controller.fleet.problems import Problem
from shadow.errors import BadInput
from shadow.sealing import SEALABLE_FIELDS, SECRET_KINDS, Sealed, holds_sealed


class SecretNotSealed(BadInput):
    """The template asks for a secret this node cannot read."""


class Unreadable(str):
    """Why a secret has no value for a node (a str, so the render memo can key on it)."""


def node_secrets(fleet: Fleet, node: Node) -> dict[str, str]:
    """`node.secrets`: each secret's token for `node`, or an `Unreadable` reason."""
    found: dict[str, str] = {}
    for name, secret in fleet.secrets.items():
        entry = secret.sealed.get(node.name)
        if not secret.selector.matches(node.tags):
            found[name] = Unreadable(
                f"its selector {secret.selector.text!r} ({secret.file}) does not match the node"
            )
        elif entry is None:
            found[name] = Unreadable(
                f"it was sealed before the node joined: shoal secret reseal {name}"
            )
        elif entry[0] != node.recipient:
            found[name] = Unreadable(
                f"it was sealed to another key of the node: shoal secret reseal {name}"
            )
        else:
            found[name] = Sealed(name, base64.b64decode(entry[1])).token()
    return found


@jinja2.pass_context
def secret(context: Any, name: Any) -> str:
    node = context.get("node") or {}
    tokens: Mapping[str, str] = node.get("secrets") or {}
    if not isinstance(name, str):
        raise SecretNotSealed(f"secret() takes a secret's name, got {type(name).__name__}")
    token = tokens.get(name)
    if token is None:
        known = ", ".join(sorted(tokens)) or "none: shoal secret set NAME --selector S"
        raise SecretNotSealed(f"no secret named {name!r} in secrets/ (known: {known})")
    if isinstance(token, Unreadable):
        raise SecretNotSealed(f"node {node.get('name')} cannot read secret {name!r}: {token}")
    return token


def sealed_problems(app: str, resources: list[dict[str, Any]], files: list[str]) -> list[Problem]:
    """A Problem for each object holding a sealed value outside a Secret's data/stringData."""
    problems = []
    for obj, file in zip(resources, files, strict=True):
        if not holds_sealed(obj):
            continue
        allowed = (obj.get("apiVersion"), obj.get("kind")) in SECRET_KINDS
        outside = {k: v for k, v in obj.items() if not (allowed and k in SEALABLE_FIELDS)}
        inside = [obj.get(k) for k in SEALABLE_FIELDS] if allowed else []
        nested = any(
            isinstance(values, Mapping) and any(not isinstance(v, str) for v in values.values())
            for values in inside
        )
        if holds_sealed(outside) or nested:
            where = f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}"
            problems.append(
                Problem(
                    file,
                    f"{where}: secret() may be used only as a value of a Secret's data or "
                    "stringData (elsewhere the edge would apply the sealed text as is)",
                    app=app,
                )
            )
    return problems
