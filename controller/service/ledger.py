"""The controller's own record of what it published: per node, the last generation and
digest it issued, and whether the broker acknowledged it.

The reconciler diffs rendered digests against this record and the publisher updates
it. It lives in the work dir (one JSON file per topic prefix, written atomically) so
generations keep increasing across restarts, and on start it is reconciled with the
retained Desired documents read back from the broker (`controller.service.readback`): the
broker is the truth of what edges see, but a missing retained message is not read as
"never published" (a broker with a small `max_queued_messages` drops some of a big
retained burst), so an acknowledged entry survives a read-back that lacks it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from transport.atomicfile import replace_atomically

log = logging.getLogger(__name__)

MAX_AHEAD_MS = 24 * 60 * 60 * 1000  # as the edges and the read-back refuse


@dataclass(frozen=True)
class Entry:
    """What was issued for one node. `confirmed` once the broker sent PUBACK."""

    generation: int
    digest: str
    confirmed: bool = True


class Ledger:
    """Per-node entries for one topic prefix; thread-safe (PUBACKs arrive on paho's thread)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        if path is not None and path.exists():
            self._entries = _read(path)
        # A generation from the future was adopted from a forged retained document
        # (before the read-back refused them): keeping it would lock the node out.
        horizon = time.time_ns() // 1_000_000 + MAX_AHEAD_MS
        for node in [n for n, e in self._entries.items() if e.generation > horizon]:
            log.warning(
                "ledger %s: forgetting node %s's generation %d, more than a day ahead of "
                "this clock (forged?): the node gets a new document",
                path,
                node,
                self._entries.pop(node).generation,
            )

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, node: str) -> Entry | None:
        return self._entries.get(node)

    def nodes(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def snapshot(self) -> dict[str, Entry]:
        with self._lock:
            return dict(self._entries)

    def issue(self, entries: Mapping[str, tuple[int, str]]) -> None:
        """Record documents about to be published (unconfirmed) and save before sending,
        so a crash between publish and PUBACK can never reuse a generation."""
        with self._lock:
            for node, (generation, digest) in entries.items():
                self._entries[node] = Entry(generation, digest, confirmed=False)
        self.save()

    def confirm(self, node: str, generation: int) -> None:
        self.confirm_many(((node, generation),))

    def confirm_many(self, items: Iterable[tuple[str, int]]) -> None:
        """The broker acknowledged these `(node, generation)` documents."""
        entries = self._entries
        with self._lock:
            for node, generation in items:
                entry = entries.get(node)
                if entry is not None and entry.generation == generation and not entry.confirmed:
                    entries[node] = Entry(generation, entry.digest, confirmed=True)

    def unconfirmed(self) -> list[str]:
        with self._lock:
            return [node for node, entry in self._entries.items() if not entry.confirmed]

    def merge_broker(self, retained: Mapping[str, tuple[int, str]]) -> int:
        """Fold in the (generation, digest) the broker retains; returns how many changed.

        A retained document at or above our generation is confirmed truth (a newer one
        came from another controller or a lost work dir); an older one means ours never
        arrived, so our entry stays unconfirmed and is published again.
        """
        changed = 0
        with self._lock:
            for node, (generation, digest) in retained.items():
                entry = self._entries.get(node)
                if entry is None or generation > entry.generation:
                    self._entries[node] = Entry(generation, digest, confirmed=True)
                    changed += 1
                elif generation == entry.generation and not entry.confirmed:
                    self._entries[node] = Entry(generation, entry.digest, confirmed=True)
                    changed += 1
        return changed

    def forget_confirmations(self, nodes: Iterable[str]) -> None:
        """Mark entries unconfirmed (the broker lost them, e.g. a fresh embedded broker)."""
        with self._lock:
            for node in nodes:
                entry = self._entries.get(node)
                if entry is not None:
                    self._entries[node] = Entry(entry.generation, entry.digest, confirmed=False)

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            data = {
                node: [entry.generation, entry.digest, entry.confirmed]
                for node, entry in self._entries.items()
            }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(self.path, json.dumps({"version": 1, "nodes": data}).encode())


def _read(path: Path) -> dict[str, Entry]:
    try:
        raw = json.loads(path.read_bytes())
        return {
            node: Entry(int(gen), str(digest), bool(confirmed))
            for node, (gen, digest, confirmed) in raw["nodes"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # Unreadable: start from the broker's retained documents alone, never crash.
        log.warning("ignoring unreadable ledger %s: %s", path, exc)
        return {}
