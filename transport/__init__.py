"""MQTT plumbing both sides share: broker URLs and TLS options, a configured paho
client, and the embedded broker for machines with none installed.

It knows the shadow contract and nothing of the controller or the edge.
"""

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
]
