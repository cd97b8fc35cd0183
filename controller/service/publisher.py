"""Publish Desired documents to the broker: retained, QoS 1, confirmed by PUBACK.

The reconciler hands over a batch of documents; each goes out on
`<prefix>/nodes/<node>/desired` and its ledger entry is confirmed when the broker
acknowledges it. The ledgers are saved once a batch is drained (every document handed
over acknowledged), before `wait_confirmed` returns: "confirmed" means "on disk".

paho holds at most a window of documents (`window`, default 2,000: its 20 in flight and
the ones queued behind them). `publish` only queues a batch in a `Backlog`, as the
document objects, unencoded; the feeder thread encodes (and signs) them and hands them
to paho as PUBACKs make room, oldest first. So a batch of 100,000 documents costs the
controller a window of payloads, not 100,000 of them (docs/controller.md, "Tested
scale"), and paho's network thread never waits on encoding. A newer document for a
node whose older one still waits in the backlog replaces it there: the older one is
never sent (the ledger already holds the newer generation). paho keeps every
unacknowledged message in its window and sends it again after a reconnect (with
backoff, set by `transport.make_client`), and the backlog waits for room the same way
while the broker is away, so a broker fault loses nothing and never makes a new
generation for the same content.

Speed: a document costs an encode, one `client.publish` and a dict insert on the
feeder thread; paho's thread wakes the feeder once `REFILL_AT` places are free, and
PUBACKs are folded into the ledgers `CONFIRM_BATCH` at a time. PUBACKs that arrive
before the feeder recorded their mid are parked in `_early` and settled right after.
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
# The feeder thread wakes once this many places in the window are free (a PUBACK frees
# one): waking it per PUBACK costs more lock rounds and thread switches than it saves.
REFILL_AT = 256
# Documents the feeder takes from the backlog per lock round.
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
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._window = window
        self._refill_at = min(REFILL_AT, window)
        self._in_window = 0  # handed to paho (or being encoded for it), not yet acknowledged
        self._backlog: Backlog[_Waiting] = Backlog()
        self._feeding = 0  # taken from the backlog, not yet in `_pending`
        mutex = threading.RLock()
        self._lock = threading.Condition(mutex)
        self._room = threading.Condition(mutex)  # the feeder waits here for documents and room
        self._feeder: threading.Thread | None = None
        self._feeder_running = False
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
        self._feeder_running = True
        self._feeder = threading.Thread(
            target=self._feed_forever, name=f"{self.client_id}-feeder", daemon=True
        )
        self._feeder.start()

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
        with self._room:
            self._feeder_running = False
            self._room.notify()
        if self._feeder is not None:
            self._feeder.join()
            self._feeder = None
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

        Returns at once: the feeder thread encodes them and hands them to paho as the
        window has room, also while the broker is away (they go out after the
        reconnect)."""
        encode = DesiredEncoder(self.signer).encode
        desired, lock, backlog = topics.desired, self._lock, self._backlog
        items = [(desired(d.node), (ledger, d.node, d.generation, d, encode)) for d in documents]
        with lock:
            self._touched.add(ledger)
            self._publishing += 1
        try:
            for start in range(0, len(items), ENQUEUE_CHUNK):  # paho's thread gets a turn
                with lock:
                    backlog.add_many(items[start : start + ENQUEUE_CHUNK])
                    self._room.notify()
        finally:
            with lock:
                self._publishing -= 1
                self._check_drained()
        return len(items)

    def _feed_forever(self) -> None:
        """The feeder thread: hand waiting documents to paho, oldest first, while the
        window has room. One thread, so documents reach paho in the order they were
        queued: a node's newer generation never overtakes its older one. It encodes
        (and signs, which lets other threads run) while paho's thread sends."""
        room = self._room
        while True:
            with room:
                while self._feeder_running and not self._may_feed():
                    room.wait()
                if not self._feeder_running:
                    return
                taken = self._backlog.take(min(FEED_CHUNK, self._window - self._in_window))
                self._in_window += len(taken)
                self._feeding += len(taken)
            self._hand_over(taken)

    def _may_feed(self) -> bool:
        """The backlog has documents and the window room for a chunk of them (lock held)."""
        return bool(self._backlog) and self._window - self._in_window >= self._refill_at

    def _hand_over(self, taken: list[tuple[str, _Waiting]]) -> None:
        """Encode and publish `taken`, then note their mids for the PUBACKs."""
        client_publish = self._client.publish
        sent = []
        try:
            for topic, (ledger, node, generation, doc, encode) in taken:
                info = client_publish(topic, encode(doc), qos=1, retain=True)
                sent.append((info.mid, ledger, node, generation))
        except Exception:  # not the feeder's end: the rest of the backlog still goes out
            log.exception(
                "cannot publish %d Desired documents; the ledger keeps them unconfirmed, "
                "so the next start sends them again",
                len(taken) - len(sent),
            )
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
                self._in_window -= len(taken) - len(sent)
                self.confirmed_total += confirmed_early
                self._check_drained()

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
            if self._acked_count >= CONFIRM_BATCH:
                self._confirm_acked()
            if self._backlog and self._window - self._in_window >= self._refill_at:
                self._room.notify()  # the feeder's `_may_feed`
            self._check_drained()

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
