"""Deciding whether a payload on our desired topic is a document to act on.

The agent (edge/agent.py) hands every message to `judge` before anything touches
the store or the cluster. A payload is rejected, with a reason that goes into the
next Reported document, when it is not JSON, fails `schemas/desired.schema.json`,
has digests that do not match its content, names another node, or carries a
generation not above the last accepted one. A re-delivery of the accepted document
(the retained message after a reconnect) is neither accepted nor rejected, and a
new generation whose digest was already applied is accepted without re-applying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema.exceptions import best_match

import schemas
from shadow import DesiredDocument, DocumentError, Rejection, is_newer, parse_json
from shadow.signing import SignatureError, TrustedKeys

Outcome = Literal["accept", "unchanged", "duplicate", "reject"]


@dataclass(frozen=True)
class Verdict:
    """`accept`: apply it; `unchanged`: accept, its content is already applied;
    `duplicate`: the accepted document again, nothing to do; `reject`: see `rejection`."""

    outcome: Outcome
    document: DesiredDocument | None = None
    rejection: Rejection | None = None


def _reject(reason: str, data: Mapping[str, Any] | None = None) -> Verdict:
    generation = data.get("generation") if data is not None else None
    digest = data.get("digest") if data is not None else None
    return Verdict(
        "reject",
        rejection=Rejection(
            reason=reason,
            generation=generation
            if isinstance(generation, int) and not isinstance(generation, bool)
            else None,
            digest=digest if isinstance(digest, str) else "",
        ),
    )


def judge(
    payload: bytes,
    node: str,
    accepted: DesiredDocument | None,
    applied_digest: str,
    *,
    trusted: TrustedKeys | None = None,
) -> Verdict:
    """What to do with `payload`, given the last accepted document and applied digest."""
    if not payload.strip():
        return _reject("empty payload (the retained document was cleared); keeping the last one")
    try:
        data = parse_json(payload)
    except DocumentError as exc:
        return _reject(f"not a Desired document: {exc}")
    error = best_match(schemas.validator("desired").iter_errors(data))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(document)"
        return _reject(f"fails the Desired schema at {where}: {error.message}", data)
    if trusted is not None:  # before anything else is believed of it
        try:
            trusted.verify(data)
        except SignatureError as exc:
            return _reject(f"signature: {exc}", data)
    try:
        document = DesiredDocument.from_dict(data)
    except DocumentError as exc:
        return _reject(f"invalid Desired document: {exc}", data)
    if document.node != node:
        return _reject(f"document is for node {document.node!r}, not {node!r}", data)
    if accepted is not None and (document.generation, document.digest) == (
        accepted.generation,
        accepted.digest,
    ):
        return Verdict("duplicate", document)
    if not is_newer(document.generation, accepted.generation if accepted else None):
        assert accepted is not None
        return _reject(
            f"generation {document.generation} is not above the last accepted "
            f"{accepted.generation}",
            data,
        )
    if document.digest == applied_digest:
        return Verdict("unchanged", document)
    return Verdict("accept", document)
