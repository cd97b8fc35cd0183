"""Read the retained Desired documents back from the broker (called on controller start).

Subscribes `<prefix>/nodes/+/desired` and a private marker topic in one SUBSCRIBE,
then publishes to the marker once the SUBACK arrives. The broker queues the retained
burst for a subscription before any later message to the same client, so when the
marker comes back every retained document has been delivered; a short quiet period
after it guards brokers that order less strictly, and a deadline guards the rest.
Only node, generation and digest are kept: the content itself is never re-read.

Anyone with write access to a topic can leave anything retained there, so each payload
is decoded within the Desired limits (`shadow.limits`), and a generation more than a
day ahead of this clock (a forged document) is not adopted: the ledger keeps its own,
the node is resent, and the edge (which refuses such generations too) accepts it.
Nothing a payload holds can raise out of the MQTT callback.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import paho.mqtt.client as mqtt

from shadow import Topics, now_ms
from shadow.limits import DESIRED_LIMITS, decode_json
from transport import BrokerOptions, BrokerUnavailable, make_client

log = logging.getLogger(__name__)

QUIET_SECONDS = 0.1
# A broker whose queue overflowed may drop the marker too: then a long silence ends it.
FALLBACK_QUIET_SECONDS = 3.0
# A generation further ahead of our clock than this is forged (generations are ms times).
MAX_AHEAD_MS = 24 * 60 * 60 * 1000


def retained_entry(payload: bytes, now: int | None = None) -> tuple[int, str] | None:
    """(generation, digest) of a retained Desired payload; None for anything else."""
    if not payload:
        return None
    try:
        data = decode_json(payload, DESIRED_LIMITS)
    except ValueError as exc:
        log.warning("ignoring an unreadable retained document: %s", exc)
        return None
    if not isinstance(data, dict):
        return None
    generation, digest = data.get("generation"), data.get("digest")
    if type(generation) is not int or not isinstance(digest, str):
        return None
    horizon = (now_ms() if now is None else now) + MAX_AHEAD_MS
    if generation > horizon:
        log.warning(
            "ignoring a retained document with generation %d, more than a day ahead of this "
            "clock (forged?): the node's document is sent again",
            generation,
        )
        return None
    return generation, digest


def read_retained(
    options: BrokerOptions, topics: Topics, timeout: float = 30.0
) -> dict[str, tuple[int, str]]:
    """`{node: (generation, digest)}` of every retained Desired document under `topics`."""
    token = uuid.uuid4().hex[:12]
    marker = f"{topics.prefix}/controller/readback/{token}"
    found: dict[str, tuple[int, str]] = {}
    state = {"last": time.monotonic(), "marker": False, "subscribed": False}
    done = threading.Event()
    failed: list[str] = []

    def on_connect(client: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            failed.append(f"broker refused the connection: {rc}")
            done.set()
            return
        client.subscribe([(topics.all_nodes("desired"), 1), (marker, 1)])

    def on_subscribe(client: mqtt.Client, *_a: object) -> None:
        state["subscribed"] = True
        state["last"] = time.monotonic()
        client.publish(marker, b"1", qos=1)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == marker:
            state["marker"] = True
            return
        state["last"] = time.monotonic()
        try:
            entry = retained_entry(bytes(msg.payload))
        except Exception as exc:  # a bug must not kill paho's thread: count it, go on
            log.error("cannot read the retained document on %s: %s", msg.topic, exc)
            return
        parsed = topics.parse(msg.topic)
        if parsed is not None and entry is not None:
            found[parsed[0]] = entry

    client = make_client(options, f"shoal-readback-{token}")
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(options.host, options.port, options.keepalive)
    except OSError as exc:
        raise BrokerUnavailable(f"cannot reach the broker at {options.url}: {exc}") from exc
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done.is_set():
            quiet = time.monotonic() - state["last"]
            if state["marker"] and quiet >= QUIET_SECONDS:
                break
            if state["subscribed"] and quiet >= FALLBACK_QUIET_SECONDS:
                log.warning(
                    "the broker at %s never returned the read-back marker after %d retained "
                    "documents: it may be dropping messages (raise max_queued_messages)",
                    options.url,
                    len(found),
                )
                break
            time.sleep(0.01)
        else:
            if failed:
                raise BrokerUnavailable(failed[0])
            raise BrokerUnavailable(
                f"the broker at {options.url} did not return the retained documents "
                f"within {timeout:.0f}s"
            )
    finally:
        client.disconnect()
        client.loop_stop()
    log.debug("read %d retained Desired documents under %s/", len(found), topics.prefix)
    return found
