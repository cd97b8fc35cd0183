"""Canonical JSON and content digests.

Both sides hash what they exchange: the controller to publish a node only when its
content changed, the edge to skip a document it already applied. Equal content must
give an equal digest on every machine, so the encoding is fixed here once: sorted
keys, no insignificant whitespace, UTF-8, no NaN or infinity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

DIGEST_PREFIX = "sha256:"


def canonical_json(value: Any) -> bytes:
    """Encode `value` as canonical JSON bytes (sorted keys, compact, UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


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
