"""Publish Desired documents to the broker: retained, QoS 1, confirmed by PUBACK.

The reconciler hands over a batch of documents; each goes out on
`<prefix>/nodes/<node>/desired` and its ledger entry is confirmed when the broker
acknowledges it. paho keeps every unacknowledged QoS 1 message and sends it again
after a reconnect (with backoff, set by `transport.make_client`), so a broker fault
loses nothing and never makes a new generation for the same content.

Speed: a batch costs one `client.publish` per document plus a dict insert; the
network thread does the rest. PUBACKs that arrive before `publish` returned its
mid are parked in `_early` and settled right after.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt

from controller.render.payloads import DesiredEncoder
from controller.service.ledger import Ledger
from shadow import DesiredDocument, Topics
from shadow.signing import SigningKey
from transport import BrokerOptions, BrokerUnavailable, describe_disconnect, make_client

log = logging.getLogger(__name__)

# Measured on this project's machines: paho's window of 20 in-flight messages is as fast
# as larger ones for 10,000 retained documents (docs/controller.md, "Broker facts"), and
# it bounds broker memory.
DEFAULT_INFLIGHT = 20


# A sent document waiting for its PUBACK: (ledger, node, generation). A plain tuple:
# one is made per document, on the publishing thread.
_Pending = tuple[Ledger, str, int]
# PUBACKs are folded into their ledgers this many at a time (and when a batch drains),
# one ledger lock round each, not one per document.
CONFIRM_BATCH = 256


class Publisher:
    """One MQTT connection for Desired documents; `start()` connects in the background."""

    def __init__(
        self,
        options: BrokerOptions,
        *,
        client_id: str | None = None,
        max_inflight: int = DEFAULT_INFLIGHT,
        signer: SigningKey | None = None,
    ) -> None:
        self.options = options
        self.signer = signer  # signs every Desired document (shadow/signing.py)
        self.client_id = client_id or f"shoal-controller-{uuid.uuid4().hex[:8]}"
        self._client = make_client(options, self.client_id, max_inflight=max_inflight)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_connect_fail = self._on_connect_fail
        self.confirmed_total = 0  # documents the broker acknowledged (for /metrics)
        self._lock = threading.Condition()
        self._pending: dict[int, _Pending] = {}
        self._early: set[int] = set()
        self._acked: dict[Ledger, list[tuple[str, int]]] = {}  # not yet in the ledgers
        self._acked_count = 0
        self._touched: set[Ledger] = set()
        self._publishing = 0
        self._connected = threading.Event()
        self._failed = threading.Event()
        self._refused: str | None = None
        self._started = False
        self.connections = 0  # successful connects so far
        # Called on paho's thread after every connect but the first: the broker may have
        # lost its retained documents (a wiped database), so the controller reads back.
        self.on_reconnect: Callable[[], None] | None = None
        self.on_lost: Callable[[], None] | None = None  # an established connection dropped

    # --- connection -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a fault."""
        if self._started:
            return
        self._started = True
        self._client.connect_async(self.options.host, self.options.port, self.options.keepalive)
        self._client.loop_start()

    def wait_connected(self, timeout: float, *, fail_fast: bool = False) -> None:
        """Raise BrokerUnavailable unless connected within `timeout` seconds; with `fail_fast`,
        as soon as one attempt fails (for `--once`: a refused connection is an answer)."""
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.05):
            if time.monotonic() > deadline or (fail_fast and self._failed.is_set()):
                reason = self._refused or "no answer"
                raise BrokerUnavailable(f"cannot reach the broker at {self.options.url} ({reason})")

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._client.disconnect()
        self._client.loop_stop()
        self._save_touched()

    def _on_connect_fail(self, _c: mqtt.Client, _u: object) -> None:
        self._refused = "connection failed"
        self._failed.set()

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            self._refused = f"refused: {rc}"
            self._failed.set()
            log.error("broker %s refused the connection: %s", self.options.url, rc)
            return
        self._refused = None
        self._connected.set()
        self.connections += 1
        with self._lock:
            waiting = len(self._pending)
        if waiting:
            log.info("connected to %s; sending %d unconfirmed documents", self.options.url, waiting)
        else:
            log.info("connected to broker %s", self.options.url)
        if self.connections > 1 and self.on_reconnect is not None:
            self.on_reconnect()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, rc: object, _p: object
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and self._started:
            log.warning(
                "lost the broker %s (%s); reconnecting", self.options.url, describe_disconnect(rc)
            )
            if self.on_lost is not None:
                self.on_lost()

    # --- publishing -------------------------------------------------------------------

    def publish(self, topics: Topics, ledger: Ledger, documents: Iterable[DesiredDocument]) -> int:
        """Send `documents` (already issued in `ledger`); returns how many were queued."""
        encode = DesiredEncoder(self.signer).encode
        return self.publish_payloads(
            topics, ledger, ((d.node, d.generation, encode(d)) for d in documents)
        )

    def publish_payloads(
        self, topics: Topics, ledger: Ledger, items: Iterable[tuple[str, int, bytes]]
    ) -> int:
        """Send `(node, generation, payload)` triples; the fast path `publish` uses."""
        lock = self._lock
        with lock:
            self._touched.add(ledger)
            self._publishing += 1
        try:
            count, confirmed_early = self._send(topics, ledger, items)
        finally:
            with lock:
                self._publishing -= 1
        self._settled(confirmed_early)
        return count

    def _send(
        self, topics: Topics, ledger: Ledger, items: Iterable[tuple[str, int, bytes]]
    ) -> tuple[int, int]:
        client_publish = self._client.publish
        pending, early, lock = self._pending, self._early, self._lock
        count = 0
        confirmed_early = 0
        for node, generation, payload in items:
            info = client_publish(topics.desired(node), payload, qos=1, retain=True)
            mid = info.mid
            with lock:
                if mid in early:
                    early.discard(mid)
                    ledger.confirm(node, generation)
                    confirmed_early += 1
                else:
                    pending[mid] = (ledger, node, generation)
            count += 1
        return count, confirmed_early

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        # One lock round per PUBACK: this runs on paho's network thread for every document.
        with self._lock:
            item = self._pending.pop(mid, None)
            if item is None:
                self._early.add(mid)
                return
            ledger, node, generation = item
            acked = self._acked.get(ledger)
            if acked is None:
                acked = self._acked[ledger] = []
            acked.append((node, generation))
            self._acked_count += 1
            self.confirmed_total += 1
            if not self._pending and not self._publishing:
                self._drained()
            elif self._acked_count >= CONFIRM_BATCH:
                self._confirm_acked()

    def _confirm_acked(self) -> None:
        """Fold the PUBACKs received so far into their ledgers (lock held)."""
        acked, self._acked, self._acked_count = self._acked, {}, 0
        for ledger, items in acked.items():
            ledger.confirm_many(items)

    def _settled(self, count: int) -> None:
        with self._lock:
            self.confirmed_total += count
            if not self._pending and not self._publishing:
                self._drained()

    def _drained(self) -> None:
        """Everything sent is confirmed (lock held): persist the ledgers once per batch,
        not per PUBACK, before waking waiters, so "confirmed" also means "on disk"."""
        self._confirm_acked()
        self._save_touched_locked()
        self._lock.notify_all()

    @property
    def unconfirmed(self) -> int:
        with self._lock:
            return len(self._pending)

    def wait_confirmed(self, timeout: float | None = None) -> bool:
        """Block until every document sent so far is acknowledged (and the ledgers saved)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._pending or self._publishing:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def _save_touched(self) -> None:
        with self._lock:
            self._confirm_acked()
            self._save_touched_locked()

    def _save_touched_locked(self) -> None:
        touched, self._touched = self._touched, set()
        for ledger in touched:
            try:
                ledger.save()
            except OSError as exc:  # the broker holds the truth; a later save catches up
                log.error("cannot save the ledger %s: %s", ledger.path, exc)
