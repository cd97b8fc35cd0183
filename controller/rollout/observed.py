"""What the rollout engine observes: a node's report, reduced; an app's files, hashed.

`read_report(node, payload, key)` is called by `controller.rollout.reports.ReportListener`
for each report of a node in an open wave; `app_fingerprint(root, app)` by the engine
at each revision, to tell a new revision of the app (it supersedes a rollout) from a
node or group change (it does not).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadow.errors import ShoalError
from shadow.limits import REPORTED_LIMITS, decode_json
from shadow.reportsigning import ReportKey


@dataclass(frozen=True)
class Seen:
    """What a node's last report says, reduced to what a rollout judges."""

    digest: str
    apps: Mapping[str, tuple[str, str]]  # app -> (state, message)
    rejected: frozenset[str]  # digests of documents it refused
    at: float = 0.0  # when it arrived (epoch seconds)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def read_report(node: str, payload: bytes, key: ReportKey | None = None) -> Seen | None:
    """The parts of a Reported payload a rollout judges, or None when it is not one for
    `node` (or, with `key`, not signed by it). Decoded within REPORTED_LIMITS but not built
    into a `ReportedDocument`: the status writer validates and records reports; this only
    reads three fields, fast. A forged report never moves a wave."""
    try:
        data = decode_json(payload, REPORTED_LIMITS)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("kind") != "Reported" or data.get("node") != node:
        return None
    if key is not None:
        try:
            key.verify(data)
        except (ShoalError, ValueError):
            return None
    apps: dict[str, tuple[str, str]] = {}
    raw_apps = data.get("apps")
    for name, status in raw_apps.items() if isinstance(raw_apps, dict) else ():
        if not isinstance(status, dict):
            continue
        message = _text(status.get("message"))
        if not message and isinstance(status.get("resources"), list):
            message = next(
                (
                    _text(r.get("message"))
                    for r in status["resources"]
                    if isinstance(r, dict) and r.get("ready") is False and r.get("message")
                ),
                "",
            )
        apps[str(name)] = (_text(status.get("state")), message)
    rejected = data.get("rejected")
    refused = frozenset(
        _text(r.get("digest"))
        for r in (rejected if isinstance(rejected, list) else ())
        if isinstance(r, dict) and r.get("digest")
    )
    return Seen(_text(data.get("observedDigest")), apps, refused, time.time())


def app_fingerprint(root: Path, app: str) -> str:
    """A hash of every file of `apps/<app>/` and of fleet.yaml: a commit that changes it
    is a new revision of the app (it supersedes a rollout); node and group files are not."""
    hashed = hashlib.sha256()
    folder = root / "apps" / app
    for path in sorted(p for p in [root / "fleet.yaml", *folder.rglob("*")] if p.is_file()):
        hashed.update(str(path.relative_to(root)).encode() + b"\0")
        try:
            hashed.update(path.read_bytes() + b"\0")
        except OSError:
            hashed.update(b"?\0")
    return hashed.hexdigest()
