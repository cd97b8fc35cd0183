"""Who may touch which topic: the broker roles of a node and of the controller.

One place for the rules the broker enforces, as Mosquitto dynamic-security roles
(`brokerconfig` writes them into the broker's initial JSON; `revocation` sends them
live). Mosquitto 2.0 has no `%u` in dynamic-security ACLs, so each node gets a role
of its own with literal topics:

- a node subscribes to and receives only `<prefix>/nodes/<node>/desired`, and
  publishes only its own `reported` and `online`;
- the controller publishes every `desired` (and reads them back at start), receives
  every `reported` and `online`, uses its own `<prefix>/controller/#` marker topics and
  drives the dynamic-security plugin on `$CONTROL/dynamic-security/v1`;
- everything else is denied (`DEFAULT_ACCESS`); a client with no role (an unknown,
  removed or revoked certificate name) can do nothing.
"""

from __future__ import annotations

from typing import Any

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
NODE_ROLE_PREFIX = "shoal-node-"
CONTROLLER_ROLE = "shoal-controller"

DEFAULT_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}


def _acl(kind: str, topic: str) -> dict[str, Any]:
    return {"acltype": kind, "topic": topic, "priority": 0, "allow": True}


def node_role_name(node: str) -> str:
    return NODE_ROLE_PREFIX + node


def node_of_role(rolename: str) -> str | None:
    return rolename[len(NODE_ROLE_PREFIX) :] if rolename.startswith(NODE_ROLE_PREFIX) else None


def node_role(prefix: str, node: str) -> dict[str, Any]:
    base = f"{prefix}/nodes/{node}"
    return {
        "rolename": node_role_name(node),
        "textname": f"shoal node {node}: its own shadow only",
        "acls": [
            _acl("subscribeLiteral", f"{base}/desired"),
            _acl("publishClientReceive", f"{base}/desired"),
            _acl("publishClientSend", f"{base}/reported"),
            _acl("publishClientSend", f"{base}/online"),
        ],
    }


def controller_role(prefix: str) -> dict[str, Any]:
    acls = [_acl("publishClientSend", f"{prefix}/nodes/+/desired")]
    for channel in ("desired", "reported", "online"):
        acls.append(_acl("subscribePattern", f"{prefix}/nodes/+/{channel}"))
        acls.append(_acl("publishClientReceive", f"{prefix}/nodes/+/{channel}"))
    acls += [
        _acl("publishClientSend", f"{prefix}/controller/#"),
        _acl("subscribePattern", f"{prefix}/controller/#"),
        _acl("publishClientReceive", f"{prefix}/controller/#"),
        _acl("publishClientSend", CONTROL_TOPIC),
        _acl("subscribeLiteral", f"{CONTROL_TOPIC}/response"),
        _acl("publishClientReceive", f"{CONTROL_TOPIC}/response"),
    ]
    return {
        "rolename": CONTROLLER_ROLE,
        "textname": "the shoal controller: every desired, every report, the client list",
        "acls": acls,
    }


def client(username: str, rolename: str) -> dict[str, Any]:
    """A dynamic-security client with no password: it authenticates by certificate."""
    return {"username": username, "roles": [{"rolename": rolename}]}
