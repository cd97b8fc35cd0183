"""Revocation follows git: a commit removing a node (or marking it revoked) locks it out
of the broker within seconds, without a broker restart, while the others carry on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from controller.identity.authority import CONTROLLER_NAME
from controller.identity.revocation import BrokerClients, commands_for
from tests.identity.conftest import Client, SecuredFleet
from tests.support.waiting import wait_until

REVOCATION_SECONDS = 10.0  # what docs/security.md promises


@contextmanager
def controller_with_clients(secured: SecuredFleet) -> Iterator[tuple[Any, BrokerClients]]:
    from controller.service.controller import Controller, ControllerSettings

    options = secured.options(CONTROLLER_NAME)
    controller = Controller(
        ControllerSettings(
            repo=str(secured.repo.work),
            work_dir=secured.base / "work",
            broker=options,
            interval=3600,
            watch_local=True,
        )
    )
    clients = BrokerClients(options, CONTROLLER_NAME)
    controller.add(clients)
    controller.revision_listeners.append(clients.revision_reconciled)
    controller.start()
    try:
        yield controller, clients
    finally:
        controller.stop()


def reports_arrive(controller_view: Client, node: Client, topic: str, mark: bytes) -> bool:
    node.client.publish(topic, mark, qos=1)
    return mark in controller_view.received(topic)


def test_a_node_removed_in_git_is_locked_out_and_the_others_stay(secured: SecuredFleet) -> None:
    with controller_with_clients(secured) as (_controller, clients):
        wait_until(lambda: clients.applied is not None, 30, message="broker clients never synced")
        view = secured.client(CONTROLLER_NAME)
        view.subscribe("shoal/nodes/+/reported")
        node_a, node_b = secured.client("node-a"), secured.client("node-b")
        node_b.subscribe("shoal/nodes/node-b/desired")
        wait_until(lambda: node_b.received("shoal/nodes/node-b/desired"), 30)  # retained
        for node, name in ((node_a, "node-a"), (node_b, "node-b")):
            topic = f"shoal/nodes/{name}/reported"
            wait_until(lambda n=node, t=topic: reports_arrive(view, n, t, b"before"), 20)

        secured.repo.remove("nodes/node-b.yaml")
        started = time.monotonic()
        revision = secured.repo.commit("node-b leaves the fleet")
        wait_until(
            lambda: node_b.disconnects, REVOCATION_SECONDS, message="node-b kept its session"
        )
        took = time.monotonic() - started
        assert took < REVOCATION_SECONDS
        # The plugin's answer reaches the controller just after the kick.
        wait_until(lambda: clients.applied is not None and clients.applied.revision == revision, 20)

        # node-b reconnects (its certificate is still CA-signed) but nothing gets through.
        wait_until(lambda: node_b.client.is_connected(), 20)
        node_b.attempt("shoal/nodes/node-b/reported", b"after")
        wait_until(
            lambda: reports_arrive(view, node_a, "shoal/nodes/node-a/reported", b"after"), 20
        )
        assert b"after" not in view.received("shoal/nodes/node-b/reported")
        assert node_a.disconnects == []  # the others were never interrupted
        assert secured.broker.proc is not None and secured.broker.proc.poll() is None  # no restart


def test_revoked_true_locks_a_node_out_and_removing_it_readmits(secured: SecuredFleet) -> None:
    with controller_with_clients(secured) as (_controller, clients):
        wait_until(lambda: clients.applied is not None, 30)
        node_a = secured.client("node-a")
        secured.repo.write_yaml(
            "nodes/node-a.yaml", {"name": "node-a", "tags": {"site": "paris"}, "revoked": True}
        )
        secured.repo.commit("revoke node-a: its disk was stolen")
        wait_until(lambda: node_a.disconnects, REVOCATION_SECONDS)
        view = secured.client(CONTROLLER_NAME)
        view.subscribe("shoal/nodes/+/reported")
        node_a.attempt("shoal/nodes/node-a/reported", b"revoked")
        secured.repo.write_yaml("nodes/node-a.yaml", {"name": "node-a", "tags": {"site": "paris"}})
        readmitted = secured.repo.commit("node-a is back")
        wait_until(
            lambda: clients.applied is not None and clients.applied.revision == readmitted, 20
        )
        wait_until(lambda: reports_arrive(view, node_a, "shoal/nodes/node-a/reported", b"back"), 20)
        assert b"revoked" not in view.received("shoal/nodes/node-a/reported")


def test_one_batch_per_revision_and_the_controller_is_never_touched() -> None:
    commands = commands_for("shoal", {"a", "b", CONTROLLER_NAME}, {"a", "c"}, CONTROLLER_NAME)
    assert [c["command"] for c in commands] == [
        "deleteClient",
        "deleteRole",
        "createRole",
        "createClient",
    ]
    assert commands[0]["username"] == "b" and commands[3]["username"] == "c"
    assert commands_for("shoal", {"a"}, set(), "a") == []
