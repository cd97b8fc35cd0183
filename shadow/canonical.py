"""Canonical JSON and content digests.

Both sides hash what they exchange: the controller to publish a node only when its
content changed, the edge to skip a document it already applied. Equal content must
give an equal digest on every machine, so the encoding is fixed here once: sorted
keys, no insignificant whitespace, UTF-8, no NaN or infinity.

Fast paths that encode a shared part once and reuse its bytes (the renderer's app
digests, the publisher's payloads) assemble the same bytes from encoded parts with
`canonical_object` and `canonical_array`, so the rules still live only here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

DIGEST_PREFIX = "sha256:"


# One encoder, built once: `json.dumps` with options would build one per call.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> bytes:
    """Encode `value` as canonical JSON bytes (sorted keys, compact, UTF-8)."""
    if type(value) is int:  # what the encoder writes for an int, without its set-up per call
        return int.__repr__(value).encode()
    return _ENCODER.encode(value).encode("utf-8")


# Member names already encoded (`"name":`): the same few keys frame every document.
_KEYS: dict[str, bytes] = {}
_KEYS_MAX = 4096


def _key(name: str) -> bytes:
    encoded = _KEYS.get(name)
    if encoded is None:
        encoded = canonical_json(name) + b":"
        if len(_KEYS) < _KEYS_MAX:
            _KEYS[name] = encoded
    return encoded


def canonical_object(members: Mapping[str, bytes]) -> bytes:
    """The canonical JSON of an object whose member values are already canonical JSON.

    `canonical_object({k: canonical_json(v) for k, v in d.items()}) == canonical_json(d)`
    for any dict `d` with string keys.
    """
    return b"{" + b",".join(_key(key) + members[key] for key in sorted(members)) + b"}"


def canonical_array(items: Iterable[bytes]) -> bytes:
    """The canonical JSON of an array whose items are already canonical JSON."""
    return b"[" + b",".join(items) + b"]"


def digest_bytes(data: bytes) -> str:
    """`sha256:<hex>` of raw bytes."""
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """`sha256:<hex>` of the canonical JSON encoding of `value`."""
    return digest_bytes(canonical_json(value))


def apps_digest(app_digests: Mapping[str, str]) -> str:
    """The node-level digest: a hash over each app's name and content digest.

    Hashing the per-app digests (not the whole content again) is equivalent for
    equality and lets nodes that share app renders share the hashing work too.
    """
    return digest(dict(app_digests))
