"""The broker, run from `shoal broker-config`'s output, confines each node to its own
shadow and admits only certificates of the fleet CA."""

from __future__ import annotations

from controller.identity.authority import CONTROLLER_NAME
from tests.identity.conftest import (
    SecuredFleet,
    broker_config,
    issue_files,
    no_message,
    other_ca_certs,
    refused,
)
from tests.support.waiting import wait_until

DESIRED_A = "shoal/nodes/node-a/desired"
DESIRED_B = "shoal/nodes/node-b/desired"
REPORTED_A = "shoal/nodes/node-a/reported"
REPORTED_B = "shoal/nodes/node-b/reported"


def test_a_node_receives_nothing_from_another_nodes_desired(secured: SecuredFleet) -> None:
    controller = secured.client(CONTROLLER_NAME)
    controller.publish(DESIRED_B, b'{"for": "b, retained"}', retain=True)
    node_a = secured.client("node-a")
    # Mosquitto acknowledges the denied SUBSCRIBE; what counts is that nothing arrives.
    node_a.subscribe(DESIRED_B, "shoal/nodes/+/desired", "#")
    node_a.subscribe(DESIRED_A)
    controller.publish(DESIRED_B, b'{"for": "b, live"}')
    controller.publish(DESIRED_A, b'{"for": "a"}')
    no_message(node_a, DESIRED_B, lambda: node_a.received(DESIRED_A))
    assert [t for t, _ in node_a.messages] == [DESIRED_A]


def test_a_nodes_publish_to_another_nodes_reported_never_reaches_the_controller(
    secured: SecuredFleet,
) -> None:
    controller = secured.client(CONTROLLER_NAME)
    controller.subscribe("shoal/nodes/+/reported", "shoal/nodes/+/online")
    node_a = secured.client("node-a")
    node_a.attempt(REPORTED_B, b'{"forged": true}')
    node_a.attempt(DESIRED_B, b'{"forged": "desired"}')  # nor may it write anyone's desired
    node_a.publish(REPORTED_A, b'{"own": true}')
    no_message(controller, REPORTED_B, lambda: controller.received(REPORTED_A))
    node_b = secured.client("node-b")
    node_b.subscribe(DESIRED_B)
    node_b.publish(REPORTED_B, b"{}")
    no_message(node_b, DESIRED_B, lambda: controller.received(REPORTED_B))


def test_clients_without_a_fleet_certificate_are_refused(secured: SecuredFleet) -> None:
    assert refused(secured.options(None)).startswith(("TLS", "connection closed"))
    stranger = other_ca_certs(secured.base, "node-a")
    assert refused(secured.options("node-a", folder=stranger)).startswith(
        ("TLS", "connection closed")
    )


def test_a_fleet_certificate_for_a_name_outside_the_fleet_can_touch_nothing(
    secured: SecuredFleet,
) -> None:
    controller = secured.client(CONTROLLER_NAME)
    controller.subscribe("shoal/nodes/+/reported")
    secured.certs["node-z"] = issue_files(secured.authority, "node-z", secured.base / "z")
    outsider = secured.client("node-z")
    outsider.subscribe("#", DESIRED_A)
    outsider.attempt(REPORTED_A, b'{"forged": true}')
    controller.publish(DESIRED_A, b"{}")
    node_a = secured.client("node-a")
    node_a.publish(REPORTED_A, b'{"own": true}')
    wait_until(lambda: controller.received(REPORTED_A), 20)
    assert controller.received(REPORTED_A) == [b'{"own": true}']
    assert outsider.messages == []


def test_broker_config_refuses_a_folder_that_is_not_empty(secured: SecuredFleet, capsys) -> None:
    target = secured.base / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    assert broker_config(secured.repo.work, secured.ca_dir, target, 1883) == 1
    assert f"{target}: not empty" in capsys.readouterr().err
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert not [p for p in secured.base.iterdir() if p.name.startswith(".busy-")]


def test_broker_config_without_a_ca_names_the_missing_key(secured: SecuredFleet, capsys) -> None:
    target = secured.base / "fresh"
    code = broker_config(secured.repo.work, secured.base / "no-ca", target, 1883)
    assert code == 1
    assert f"{secured.base / 'no-ca' / 'ca.key'}: no CA key here" in capsys.readouterr().err
    assert not target.exists()
