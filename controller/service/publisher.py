"""Publish Desired documents to the broker: retained, QoS 1, confirmed by PUBACK.

The reconciler hands over a batch of documents; each goes out on
`<prefix>/nodes/<node>/desired` and its ledger entry is confirmed when the broker
acknowledges it. The ledgers are saved once a batch is drained (every document handed
over acknowledged), before `wait_confirmed` returns: "confirmed" means "on disk".

paho holds at most a window of documents (`window`, default 2,000: its 20 in flight
and the ones queued behind them); the rest of a batch waits in a `Backlog` as the
document objects, unencoded, and is encoded and handed to paho as PUBACKs make room
(a few per PUBACK, on paho's network thread). So a batch of 100,000 documents costs
the controller a window of payloads, not 100,000 of them (docs/controller.md, "Tested
scale"). A newer document for a node whose older one still waits in the backlog
replaces it there: the older one is never sent. paho keeps every unacknowledged
message in its window and sends it again after a reconnect (with backoff, set by
`transport.make_client`), and the backlog waits for room the same way while the broker
is away, so a broker fault loses nothing and never makes a new generation for the same
content.

Speed: a document costs an encode, one `client.publish` and a dict insert, on the
caller's thread for the first window and on paho's thread for the rest; PUBACKs are
folded into the ledgers `CONFIRM_BATCH` at a time. PUBACKs that arrive before the
feeder recorded their mid are parked in `_early` and settled right after.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt

from controller.render.payloads import DesiredEncoder
from controller.service.backlog import Backlog
from controller.service.ledger import Ledger
from shadow import DesiredDocument, Topics
from shadow.signing import SigningKey
from transport import BrokerOptions, BrokerUnavailable, describe_disconnect, make_client

log = logging.getLogger(__name__)

# Measured on this project's machines: paho's window of 20 in-flight messages is as fast
# as larger ones for 10,000 retained documents (docs/controller.md, "Broker facts"), and
# it bounds broker memory.
DEFAULT_INFLIGHT = 20
# Documents paho holds at most (in flight and queued behind them). Each is a payload of
# a few KB in paho until its PUBACK; a batch beyond the window waits unencoded.
DEFAULT_WINDOW = 2000
# paho's thread refills the window once this many places are free, this many documents
# at a time: one per PUBACK costs more lock rounds than it saves (measured: 16 to 32 cost
# the CPU time of handing the whole batch to paho at once, 1 costs 10 % more).
FEED_PER_PUBACK = 16
# Documents the caller's thread encodes between two looks at the room left.
FEED_CHUNK = 256
# Documents queued into the backlog per lock round (paho's thread waits meanwhile).
ENQUEUE_CHUNK = 4096

# A sent document waiting for its PUBACK: (ledger, node, generation). A plain tuple:
# one is made per document.
_Pending = tuple[Ledger, str, int]
# A document waiting for the window: (ledger, node, generation, document, encode).
_Waiting = tuple[Ledger, str, int, DesiredDocument, Callable[[DesiredDocument], bytes]]
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
        window: int = DEFAULT_WINDOW,
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
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._window = window
        self._refill_at = min(FEED_PER_PUBACK, window)
        self._in_window = 0  # handed to paho (or being encoded for it), not yet acknowledged
        self._backlog: Backlog[_Waiting] = Backlog()
        self._feeding = 0  # taken from the backlog, not yet in `_pending`
        self._feeder = threading.Lock()  # one feeder at a time: documents keep their order
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
        waiting = self.unconfirmed
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
        """Send `documents` (already issued in `ledger`); returns how many were queued.

        Returns once the window is full (or every document is in it): the rest are
        encoded and handed to paho as PUBACKs make room, also while the broker is away
        (they go out after the reconnect)."""
        encode = DesiredEncoder(self.signer).encode
        desired, lock, backlog = topics.desired, self._lock, self._backlog
        items = [(desired(d.node), (ledger, d.node, d.generation, d, encode)) for d in documents]
        count = len(items)
        with lock:
            self._touched.add(ledger)
            self._publishing += 1
        try:
            for start in range(0, len(items), ENQUEUE_CHUNK):  # paho's thread gets a turn
                with lock:
                    for topic, item in items[start : start + ENQUEUE_CHUNK]:
                        backlog.add(topic, item)
            del items
            self._feed(wait=True)
        finally:
            with lock:
                self._publishing -= 1
                self._check_drained()
        return count

    def _feed(self, *, wait: bool, limit: int | None = None) -> None:
        """Hand waiting documents to paho, oldest first, while the window has room.

        One feeder at a time (`_feeder`), so documents reach paho in the order they
        were queued: a node's newer generation never overtakes its older one. paho's
        thread calls this holding paho's own lock, so it never waits for the feeder
        (`wait=False`); whoever holds it looks for room again after letting go."""
        fed = 0
        while True:
            if not self._feeder.acquire(blocking=wait):
                return
            try:
                fed += self._feed_locked(FEED_CHUNK if limit is None else limit - fed)
            finally:
                self._feeder.release()
            with self._lock:
                room = self._window - self._in_window
                if not self._backlog or room <= 0 or (limit is not None and fed >= limit):
                    return

    def _feed_locked(self, most: int) -> int:
        """Encode and publish up to `most` waiting documents (the feeder held)."""
        with self._lock:
            taken = self._backlog.take(min(most, self._window - self._in_window))
            self._in_window += len(taken)
            self._feeding += len(taken)
        if not taken:
            return 0
        client_publish = self._client.publish
        sent = []
        try:
            for topic, (ledger, node, generation, doc, encode) in taken:
                info = client_publish(topic, encode(doc), qos=1, retain=True)
                sent.append((info.mid, ledger, node, generation))
        finally:
            with self._lock:
                pending, early = self._pending, self._early
                confirmed_early = 0
                for mid, ledger, node, generation in sent:
                    if mid in early:
                        early.discard(mid)
                        ledger.confirm(node, generation)
                        confirmed_early += 1
                    else:
                        pending[mid] = (ledger, node, generation)
                self._feeding -= len(taken)
                self._in_window -= len(taken) - len(sent)  # not handed over (an exception)
                self.confirmed_total += confirmed_early
                self._check_drained()
        return len(taken)

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        # One lock round per PUBACK: this runs on paho's network thread for every document.
        with self._lock:
            self._in_window -= 1
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
            refill = self._backlog and self._window - self._in_window >= self._refill_at
            if self._acked_count >= CONFIRM_BATCH:
                self._confirm_acked()
            self._check_drained()
        if refill:
            # Refill the window from here: paho still has most of it queued behind its
            # in-flight documents, so encoding a few more never leaves the broker waiting.
            self._feed(wait=False, limit=self._refill_at)

    def _confirm_acked(self) -> None:
        """Fold the PUBACKs received so far into their ledgers (lock held)."""
        acked, self._acked, self._acked_count = self._acked, {}, 0
        for ledger, items in acked.items():
            ledger.confirm_many(items)

    def _check_drained(self) -> None:
        """If everything handed over is confirmed (lock held): persist the ledgers once per
        batch, not per PUBACK, before waking waiters, so "confirmed" also means "on disk"."""
        if self._pending or self._backlog or self._feeding or self._publishing:
            return
        self._confirm_acked()
        self._save_touched_locked()
        self._lock.notify_all()

    @property
    def unconfirmed(self) -> int:
        """Documents handed to `publish` and not yet acknowledged (in paho or waiting)."""
        with self._lock:
            return len(self._pending) + len(self._backlog) + self._feeding

    @property
    def superseded(self) -> int:
        """Waiting documents replaced by a newer one for the same node before being sent."""
        with self._lock:
            return self._backlog.superseded

    def wait_confirmed(self, timeout: float | None = None) -> bool:
        """Block until every document handed over so far is acknowledged (and the ledgers
        saved)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._pending or self._backlog or self._feeding or self._publishing:
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
