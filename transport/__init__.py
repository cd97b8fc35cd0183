"""The I/O both sides share: MQTT plumbing and crash-safe files.

`broker` parses broker URLs and TLS options and makes a configured paho client,
`embedded` is the broker for machines with none installed, and `atomicfile` replaces
a file so that a crash leaves the old or the new content (the controller's ledger,
the edge's store), and `httpserving` serves the small HTTP endpoint of each side
(`--http`: healthz, metrics). `shadow/` is the contract and does no I/O; what the two sides do
alike with the network and the disk lives here instead.

It knows the shadow contract and nothing of the controller or the edge.
"""

from transport.atomicfile import replace_atomically, sync_folder
from transport.broker import (
    BrokerOptions,
    BrokerUnavailable,
    BrokerURLError,
    add_broker_arguments,
    describe_disconnect,
    make_client,
    positive_seconds,
)
from transport.embedded import EmbeddedBroker

__all__ = [
    "BrokerOptions",
    "BrokerURLError",
    "BrokerUnavailable",
    "EmbeddedBroker",
    "add_broker_arguments",
    "describe_disconnect",
    "make_client",
    "positive_seconds",
    "replace_atomically",
    "sync_folder",
]
