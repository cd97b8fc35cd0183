"""Read the retained Desired documents back from the broker (called on controller start).

Subscribes `<prefix>/nodes/+/desired` and a private marker topic in one SUBSCRIBE,
then publishes to the marker once the SUBACK arrives. The broker queues the retained
burst for a subscription before any later message to the same client, so when the
marker comes back every retained document has been delivered; a short quiet period
after it guards brokers that order less strictly, and a deadline guards the rest.
Only node, generation and digest are kept: the content itself is never re-read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import paho.mqtt.client as mqtt

from shadow import Topics
from transport import BrokerOptions, BrokerUnavailable, make_client

log = logging.getLogger(__name__)

QUIET_SECONDS = 0.1
# A broker whose queue overflowed may drop the marker too: then a long silence ends it.
FALLBACK_QUIET_SECONDS = 3.0


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
        parsed = topics.parse(msg.topic)
        if parsed is None or not msg.payload:
            return
        try:
            data = json.loads(msg.payload)
            generation, digest = data["generation"], data["digest"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable retained document on %s", msg.topic)
            return
        if isinstance(generation, int) and isinstance(digest, str):
            found[parsed[0]] = (generation, digest)

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
