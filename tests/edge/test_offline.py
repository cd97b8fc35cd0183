"""The edge keeps going without its broker: restarts from its store, catches up after."""

from __future__ import annotations

from collections.abc import Callable

from edge.agent import Agent
from tests.edge.conftest import NODE, TOPICS, Cluster, wait_report
from tests.edge.documents import app, configmap, deployment, document
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder, publish
from tests.support.waiting import wait_until


def test_a_restarted_agent_without_broker_reapplies_from_its_store(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    ns = cluster.namespace("web")
    doc = document(
        NODE, {"web": app(ns, configmap("settings", color="blue"), deployment("web"))}, 1
    )
    agent = start_agent()
    publish(mosquitto.url, TOPICS.desired(NODE), doc.to_json())
    wait_report(reports, lambda r: r.state == "Synced", cluster.timeout)
    agent.stop()

    mosquitto.stop()
    cluster.delete("v1", "ConfigMap", "settings", ns)  # lost while the node was down
    restarted = start_agent()
    wait_until(lambda: cluster.get("v1", "ConfigMap", "settings", ns), cluster.timeout)
    assert cluster.get("v1", "ConfigMap", "settings", ns)["data"] == {"color": "blue"}
    assert not restarted.link.connected

    # Still reconciling with no broker: drift is repaired from the store too.
    cluster.delete("v1", "ConfigMap", "settings", ns)
    wait_until(lambda: cluster.get("v1", "ConfigMap", "settings", ns), cluster.timeout)

    mosquitto.start()
    report = wait_report(
        reports,
        lambda r: r.state == "Synced" and r.observed_generation == 1 and not r.rejected,
        cluster.timeout,
    )
    assert report.observed_digest == doc.digest


def test_after_an_outage_the_broker_gets_only_the_latest_report(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    ns = cluster.namespace("web")
    doc = document(NODE, {"web": app(ns, configmap("a"), configmap("b"))}, 1)
    # Frequent observations, no drift repair during the test: the missing object stays missing.
    agent = start_agent(report_interval=0.5, reconcile_interval=300.0)
    publish(mosquitto.url, TOPICS.desired(NODE), doc.to_json())
    wait_report(reports, lambda r: r.state == "Synced", cluster.timeout)

    mosquitto.stop()
    wait_until(lambda: not agent.link.connected, 10)
    published = agent.reporter.published
    cluster.delete("v1", "ConfigMap", "a", ns)
    pending = wait_until(
        lambda: (p := agent.reporter.pending) and p.state == "Progressing" and p,
        cluster.timeout,
        message="the agent did not notice the missing object while offline",
    )
    assert agent.reporter.published == published, "nothing is sent (or queued) while offline"

    mosquitto.start()
    report = wait_report(
        reports,
        lambda r: r.state == "Progressing",
        cluster.timeout,
        "the latest report did not arrive after the broker came back",
    )
    assert report.apps["web"].message == f"ConfigMap {ns}/a: not found"
    assert pending.apps == report.apps


def test_an_unreachable_api_server_fails_the_node_until_it_answers(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    sim = cluster.require_sim("stopping the API server")
    sim.stop()
    ns = cluster.namespace("web")
    doc = document(NODE, {"web": app(ns, configmap("settings"))}, 1)
    start_agent(reconcile_interval=300.0)
    publish(mosquitto.url, TOPICS.desired(NODE), doc.to_json())
    report = wait_report(reports, lambda r: r.state == "Failed", cluster.timeout)
    assert report.observed_generation == 1
    assert "cannot reach the Kubernetes API" in report.message
    assert report.apps["web"].state == "Failed"

    sim.start()  # same port: the kubeconfig still points at it
    wait_report(reports, lambda r: r.state == "Synced", cluster.timeout)
    assert sim.get("v1", "ConfigMap", "settings", ns) is not None
