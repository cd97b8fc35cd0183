"""Report verification: is a report signed by the key git records for its node?

Called by `controller.status.intake` for every well-formed report, before the status
book records it. The keys come from the fleet of the controller's last good revision
(`reportKey:` in `nodes/<node>.yaml`, `reports.requireSignature` in fleet.yaml), handed
in as `NodeKeys` by `controller.status.service`. The policy (docs/security.md):

- a node whose file records a `reportKey` must sign with it: an unsigned report, one
  signed by another key, or a signature that does not match is refused;
- a node without one (provisioned before signed reports, or by hand) is recorded as
  `verified: false`, unless fleet.yaml sets `reports: {requireSignature: true}`;
- a new key in git (a re-provisioned node) refuses reports signed with the old one.

The same payload again (the broker hands every retained report over on each reconnect) is
not verified again against the same key. A refusal raises `ReportSignatureError` with its
`reason`; intake counts it
(`shoal_reports_rejected_total{reason}`) and logs it, once per node and then at most
every `LOG_EVERY` seconds (a forger can send thousands a second).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shadow.reportsigning import ReportKey, ReportSignatureError
from shadow.signing import KeyFileError

log = logging.getLogger(__name__)

# Refusal reasons, as intake counts them (kind `report-<reason>`).
REASONS = ("unsigned", "wrong-key", "bad-signature", "no-key", "bad-key")
KIND_PREFIX = "report-"
# Seconds between two warnings about the same node's refused reports.
LOG_EVERY = 300.0


def rejection_reason(kind: str) -> str | None:
    """The signature reason of an intake kind (`report-wrong-key` -> `wrong-key`), or None."""
    reason = kind.removeprefix(KIND_PREFIX)
    return reason if kind.startswith(KIND_PREFIX) and reason in REASONS else None


@dataclass(frozen=True)
class NodeKeys:
    """The report keys of one fleet revision: node -> `reportKey` text, and the switch."""

    keys: Mapping[str, str] = field(default_factory=dict)
    require_signature: bool = False


class ReportVerifier:
    """`verify(node, data)`: the key id that signed, None (unverified, allowed), or raise."""

    def __init__(
        self,
        node_keys: Callable[[], NodeKeys | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node_keys = node_keys  # None: no fleet known (nothing can be verified)
        self._clock = clock
        self._loaded: dict[str, ReportKey | KeyFileError] = {}  # by key text, across revisions
        self._warned: dict[str, float] = {}  # node -> when its refusals were last logged
        self._quiet: Counter[str] = Counter()  # node -> refusals not logged since
        # node -> (sha256 of its last verified payload, the key text, the key id)
        self._verified: dict[str, tuple[bytes, str, str]] = {}
        self._lock = threading.Lock()

    def verify(self, node: str, data: Mapping[str, Any], payload: bytes = b"") -> str | None:
        """Check the decoded report `data` of `node` (its topic's node, already matched);
        `payload`, its bytes: the same bytes again (the broker re-delivering retained
        reports after a reconnect) are not verified twice against the same key."""
        known = self.node_keys()
        text = known.keys.get(node, "") if known is not None else ""
        if not text:
            if known is not None and known.require_signature:
                raise ReportSignatureError(
                    "no-key",
                    f"no reportKey in the fleet for node {node!r}, and fleet.yaml's "
                    "reports.requireSignature refuses reports nobody can verify",
                )
            return None
        key = self._key(text)
        if isinstance(key, KeyFileError):
            raise ReportSignatureError(
                "bad-key", f"the reportKey recorded for node {node!r} cannot verify: {key}"
            )
        digest = hashlib.sha256(payload).digest() if payload else b""
        seen = self._verified.get(node)
        if digest and seen is not None and seen[0] == digest and seen[1] == text:
            return seen[2]
        key_id = key.verify(data)
        if digest:
            self._verified[node] = (digest, text, key_id)
        return key_id

    def _key(self, text: str) -> ReportKey | KeyFileError:
        key = self._loaded.get(text)
        if key is None:
            try:
                key = ReportKey.from_text(text)
            except KeyFileError as exc:
                key = exc
            with self._lock:
                if len(self._loaded) > 100_000:  # keys of nodes long gone
                    self._loaded.clear()
                self._loaded[text] = key
        return key

    def should_log(self, node: str) -> int | None:
        """None: stay quiet about this node's refusal; else how many went unlogged before it."""
        now = self._clock()
        with self._lock:
            last = self._warned.get(node)
            if last is not None and now - last < LOG_EVERY:
                self._quiet[node] += 1
                return None
            self._warned[node] = now
            return self._quiet.pop(node, 0)

    def forget(self, nodes: frozenset[str]) -> None:
        with self._lock:
            for node in nodes:
                self._verified.pop(node, None)
                self._warned.pop(node, None)
                self._quiet.pop(node, None)
