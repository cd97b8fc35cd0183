"""Sealed secrets: a value readable only by the nodes it was sealed to (age, X25519).

Each node has an age key pair made at provisioning: its recipient (`age1...`) is in the
node's file in the fleet repository, its identity (`AGE-SECRET-KEY-1...`) stays in the
node's bundle. `shoal secret set` seals a value once per matching node, so a node's
Desired document carries only its own ciphertext. In a rendered object a sealed value is
a token,

    shoal-sealed:v1:<secret name>:<base64 of the age ciphertext>

that only the edge turns back into the value, in memory, just before the server-side
apply (`unseal_object`). Everything else shows the token in its display form,
`<sealed db-password sha256:1a2b3c4d5e6f>` (`display`, `redact`): the hash is of the
ciphertext, so a re-sealed secret shows as changed and the value never leaks through a
hash. Pure: keys and ciphertexts come in as strings and bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyrage
from pyrage import x25519

PREFIX = "shoal-sealed:v1:"
TOKEN = re.compile(r"shoal-sealed:v1:([a-z0-9]([-a-z0-9.]*[a-z0-9])?):([A-Za-z0-9+/=]+)")
SECRET_KINDS = {("v1", "Secret")}
SEALABLE_FIELDS = ("data", "stringData")


class SealingError(ValueError):
    """A recipient, identity or sealed value that cannot be used; the message says why."""


@dataclass(frozen=True)
class Sealed:
    """One secret sealed to one node."""

    name: str
    ciphertext: bytes

    def token(self) -> str:
        return PREFIX + self.name + ":" + base64.b64encode(self.ciphertext).decode("ascii")

    def display(self) -> str:
        return f"<sealed {self.name} sha256:{hashlib.sha256(self.ciphertext).hexdigest()[:12]}>"


def new_identity() -> tuple[str, str]:
    """A fresh node key pair: (identity, recipient)."""
    identity = x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def seal(name: str, value: bytes, recipient: str) -> Sealed:
    try:
        public = x25519.Recipient.from_str(recipient)
    except Exception as exc:  # pyrage raises its own RecipientError
        raise SealingError(f"not an age recipient: {recipient[:20]}...") from exc
    return Sealed(name, pyrage.encrypt(value, [public]))


def parse_token(text: str) -> Sealed | None:
    match = TOKEN.fullmatch(text)
    if match is None:
        return None
    try:
        return Sealed(match.group(1), base64.b64decode(match.group(3), validate=True))
    except (binascii.Error, ValueError):
        return None


def unseal(sealed: Sealed, identities: Iterable[str]) -> bytes:
    try:
        keys = [x25519.Identity.from_str(i) for i in identities]
    except Exception as exc:
        raise SealingError("the node's age identity is not an age secret key") from exc
    try:
        return pyrage.decrypt(sealed.ciphertext, keys)
    except Exception as exc:  # DecryptError: not sealed to this node, or damaged
        raise SealingError(
            f"secret {sealed.name!r} is not sealed to this node (or is damaged): reseal it"
        ) from exc


def unseal_object(obj: Mapping[str, Any], identities: Iterable[str]) -> dict[str, Any]:
    """`obj` with every sealed token in a Secret's data/stringData replaced by its value
    (base64 in `data`, text in `stringData`), for the edge to apply. Raises SealingError."""
    keys = list(identities)
    out = dict(obj)
    for field in SEALABLE_FIELDS:
        values = obj.get(field)
        if not isinstance(values, Mapping):
            continue
        opened = {}
        for key, value in values.items():
            sealed = parse_token(value) if isinstance(value, str) else None
            if sealed is None:
                opened[key] = value
                continue
            plain = unseal(sealed, keys)
            opened[key] = base64.b64encode(plain).decode() if field == "data" else plain.decode()
        out[field] = opened
    return out


def redact(value: Any) -> Any:
    """`value` with every sealed token shown in its display form (render, diff, logs)."""
    if isinstance(value, str):
        return TOKEN.sub(lambda m: _display(m.group(0)), value) if PREFIX in value else value
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _display(token: str) -> str:
    sealed = parse_token(token)
    return sealed.display() if sealed is not None else token


def holds_sealed(value: Any) -> bool:
    if isinstance(value, str):
        return PREFIX in value
    if isinstance(value, Mapping):
        return any(holds_sealed(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_sealed(v) for v in value)
    return False
