"""MQTT topic names for the device shadow.

`<prefix>/nodes/<node>/desired|reported|online`. The node name is the only identity
in a topic, so a broker ACL such as `pattern read shoal/nodes/%u/desired` confines
each node to its own shadow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DEFAULT_PREFIX = "shoal"

Channel = Literal["desired", "reported", "online"]
CHANNELS: tuple[Channel, ...] = ("desired", "reported", "online")

# RFC 1123 label-ish, like Kubernetes node names: safe in topics, files and URLs.
_NODE_NAME = re.compile(r"^[a-z0-9]([a-z0-9.\-_]{0,251}[a-z0-9])?$")


def is_valid_node_name(name: str) -> bool:
    """True when `name` can be a node identity (topic level, file name, MQTT user)."""
    return bool(_NODE_NAME.match(name))


@dataclass(frozen=True)
class Topics:
    """Topic names under one fleet's prefix."""

    prefix: str = DEFAULT_PREFIX

    def node(self, node: str, channel: Channel) -> str:
        if not is_valid_node_name(node):
            raise ValueError(f"invalid node name for a topic: {node!r}")
        return f"{self.prefix}/nodes/{node}/{channel}"

    def desired(self, node: str) -> str:
        return self.node(node, "desired")

    def reported(self, node: str) -> str:
        return self.node(node, "reported")

    def online(self, node: str) -> str:
        return self.node(node, "online")

    def all_nodes(self, channel: Channel) -> str:
        """Wildcard subscription for one channel of every node."""
        return f"{self.prefix}/nodes/+/{channel}"

    def parse(self, topic: str) -> tuple[str, Channel] | None:
        """`(node, channel)` for a topic under this prefix, or None when it is not one."""
        head = f"{self.prefix}/nodes/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 2:
            return None
        node, channel = parts
        if channel not in CHANNELS or not is_valid_node_name(node):
            return None
        return node, channel
