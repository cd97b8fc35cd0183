"""The edge agent end to end: a real Mosquitto, the agent in-process, and Kubernetes
(the API stand-in, or a real cluster with SHOAL_TEST_KUBECONFIG).

Each test publishes Desired documents the way the controller does and asserts what
a person would look at: objects in the cluster and the node's Reported document.
"""

from __future__ import annotations

from collections.abc import Callable

import schemas
from edge.agent import Agent
from shadow import ReportedDocument
from tests.edge.conftest import NODE, TOPICS, Cluster, wait_report
from tests.edge.documents import Generations, app, configmap, deployment, document
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder, publish
from tests.support.waiting import wait_until

MANAGED = {"app.kubernetes.io/managed-by": "shoal", "shoal.dev/app": "web"}


def synced(generation: int) -> Callable[[ReportedDocument], bool]:
    return lambda r: r.state == "Synced" and r.observed_generation == generation


def test_a_desired_document_becomes_objects_and_a_ready_report(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    ns = cluster.namespace("web")
    gens = Generations()
    doc = document(
        NODE, {"web": app(ns, deployment("web"), configmap("settings", color="blue"))}, gens.next()
    )
    start_agent()
    publish(mosquitto.url, TOPICS.desired(NODE), doc.to_json())

    report = wait_report(reports, synced(doc.generation), cluster.timeout)
    assert reports.latest[TOPICS.online(NODE)] == b"true"
    schemas.validator("reported").validate(report.to_dict())
    assert report.observed_digest == doc.digest and report.revision == doc.revision
    web = report.apps["web"]
    assert web.state == "Ready"
    assert {(r.kind, r.namespace, r.name, r.ready) for r in web.resources} == {
        ("Deployment", ns, "web", True),
        ("ConfigMap", ns, "settings", True),
    }
    assert report.node_info.kubernetes.startswith("v1.")
    assert report.node_info.agent and report.node_info.hostname

    assert cluster.get("v1", "Namespace", ns) is not None  # created for the app
    settings = cluster.get("v1", "ConfigMap", "settings", ns)
    assert settings["data"] == {"color": "blue"}
    assert MANAGED.items() <= settings["metadata"]["labels"].items()
    deploy = cluster.get("apps/v1", "Deployment", "web", ns)
    assert MANAGED.items() <= deploy["metadata"]["labels"].items()


def test_a_changed_document_updates_and_prunes(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    web, db = cluster.namespace("web"), cluster.namespace("db")
    gens = Generations()
    first = document(
        NODE,
        {
            "web": app(ns := web, configmap("settings", color="blue"), configmap("extra")),
            "db": app(db, configmap("db-settings")),
        },
        gens.next(),
    )
    start_agent()
    publish(mosquitto.url, TOPICS.desired(NODE), first.to_json())
    wait_report(reports, synced(first.generation), cluster.timeout)
    assert cluster.get("v1", "ConfigMap", "extra", ns) is not None

    second = document(NODE, {"web": app(web, configmap("settings", color="green"))}, gens.next())
    publish(mosquitto.url, TOPICS.desired(NODE), second.to_json())
    report = wait_report(reports, synced(second.generation), cluster.timeout)

    assert set(report.apps) == {"web"}
    assert cluster.get("v1", "ConfigMap", "settings", web)["data"] == {"color": "green"}
    assert cluster.get("v1", "ConfigMap", "extra", web) is None, "a removed object is pruned"
    assert cluster.get("v1", "ConfigMap", "db-settings", db) is None, "a removed app is pruned"


def test_a_new_generation_with_applied_content_does_not_touch_the_cluster(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    sim = cluster.require_sim("counting API requests")
    ns = cluster.namespace("web")
    apps = {"web": app(ns, configmap("settings", color="blue"))}
    gens = Generations()
    first = document(NODE, apps, gens.next(), revision="a" * 40)
    start_agent(reconcile_interval=300.0)
    publish(mosquitto.url, TOPICS.desired(NODE), first.to_json())
    wait_report(reports, synced(first.generation), cluster.timeout)
    writes = [r for r in sim.requests if r[0] in ("POST", "PUT", "PATCH", "DELETE")]

    again = document(NODE, apps, gens.next(), revision="b" * 40)
    publish(mosquitto.url, TOPICS.desired(NODE), again.to_json())
    report = wait_report(reports, synced(again.generation), cluster.timeout)
    assert report.revision == "b" * 40
    assert [r for r in sim.requests if r[0] in ("POST", "PUT", "PATCH", "DELETE")] == writes


def test_bad_documents_are_rejected_and_reported(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    ns = cluster.namespace("web")
    gens = Generations()
    old = gens.next()
    good = document(NODE, {"web": app(ns, configmap("settings", color="blue"))}, gens.next())
    agent = start_agent()
    publish(mosquitto.url, TOPICS.desired(NODE), good.to_json())
    wait_report(reports, synced(good.generation), cluster.timeout)

    for payload in (
        document(
            "edge-002", {"web": app(ns, configmap("settings", color="red"))}, gens.next()
        ).to_json(),
        document(NODE, {"web": app(ns, configmap("settings", color="red"))}, old).to_json(),
        b"\x00 certainly not json",
    ):
        publish(mosquitto.url, TOPICS.desired(NODE), payload)
    report = wait_report(reports, lambda r: len(r.rejected) == 3, cluster.timeout)

    reasons = [r.reason for r in report.rejected]
    assert "for node 'edge-002', not 'edge-001'" in reasons[0]
    assert f"generation {old} is not above the last accepted {good.generation}" in reasons[1]
    assert reasons[2].startswith("not a Desired document: not valid JSON")
    assert report.state == "Synced" and report.observed_generation == good.generation
    assert cluster.get("v1", "ConfigMap", "settings", ns)["data"] == {"color": "blue"}
    assert agent.alive()

    fixed = document(NODE, {"web": app(ns, configmap("settings", color="green"))}, gens.next())
    publish(mosquitto.url, TOPICS.desired(NODE), fixed.to_json())
    report = wait_report(reports, synced(fixed.generation), cluster.timeout)
    assert report.rejected == (), "an accepted document clears the rejections"


def test_the_accepted_document_again_clears_the_refusal_of_an_older_one(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    # A broker restored from an older save hands out an older document; the controller
    # then publishes the current one again: the node is fine and its report says so.
    ns = cluster.namespace("web")
    gens = Generations()
    older = document(NODE, {"web": app(ns, configmap("settings", color="red"))}, gens.next())
    current = document(NODE, {"web": app(ns, configmap("settings", color="blue"))}, gens.next())
    start_agent()
    publish(mosquitto.url, TOPICS.desired(NODE), current.to_json())
    wait_report(reports, synced(current.generation), cluster.timeout)

    publish(mosquitto.url, TOPICS.desired(NODE), older.to_json())
    report = wait_report(reports, lambda r: len(r.rejected) == 1, cluster.timeout)
    assert report.rejected[0].generation == older.generation

    publish(mosquitto.url, TOPICS.desired(NODE), current.to_json())
    report = wait_report(reports, lambda r: not r.rejected, cluster.timeout)
    assert report.state == "Synced" and report.observed_generation == current.generation
    assert cluster.get("v1", "ConfigMap", "settings", ns)["data"] == {"color": "blue"}


def test_an_object_deleted_or_changed_behind_the_agents_back_is_restored_as_drift(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    ns = cluster.namespace("web")
    doc = document(
        NODE, {"web": app(ns, configmap("settings", color="blue"), deployment("web"))}, 1
    )
    start_agent(reconcile_interval=0.5)
    publish(mosquitto.url, TOPICS.desired(NODE), doc.to_json())
    wait_report(reports, synced(1), cluster.timeout)

    cluster.delete("v1", "ConfigMap", "settings", ns)
    drift = wait_report(
        reports,
        lambda r: any(res.drifted for res in r.apps["web"].resources),
        cluster.timeout,
        "no drift reported",
    )
    drifted = [res for res in drift.apps["web"].resources if res.drifted]
    assert [(d.kind, d.name) for d in drifted] == [("ConfigMap", "settings")]
    assert "deleted by someone else" in drifted[0].message
    wait_until(lambda: cluster.get("v1", "ConfigMap", "settings", ns), cluster.timeout)
    assert cluster.get("v1", "ConfigMap", "settings", ns)["data"] == {"color": "blue"}
    wait_report(
        reports,
        lambda r: r.state == "Synced" and not any(res.drifted for res in r.apps["web"].resources),
        cluster.timeout,
        "drift flag never cleared",
    )

    if cluster.sim is None:
        return
    cluster.sim.modify("apps/v1", "Deployment", "web", ns, lambda d: d["spec"].update(replicas=5))
    drift = wait_report(
        reports,
        lambda r: any(res.drifted and res.kind == "Deployment" for res in r.apps["web"].resources),
        cluster.timeout,
        "no drift reported for an edited Deployment",
    )
    wait_until(
        lambda: cluster.get("apps/v1", "Deployment", "web", ns)["spec"]["replicas"] == 1,
        cluster.timeout,
    )


def test_a_manifest_the_api_server_rejects_fails_only_its_app(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    sim = cluster.require_sim("rejecting manifests on demand")
    sim.reject(
        lambda obj: (
            "spec.ports[0].port: Invalid value: 99999: must be between 1 and 65535"
            if obj["metadata"]["name"] == "broken"
            else None
        )
    )
    web, bad = cluster.namespace("web"), cluster.namespace("bad")
    doc = document(
        NODE,
        {"web": app(web, deployment("web")), "bad": app(bad, configmap("ok"), configmap("broken"))},
        1,
    )
    start_agent()
    publish(mosquitto.url, TOPICS.desired(NODE), doc.to_json())
    report = wait_report(
        reports, lambda r: r.state == "Degraded" and r.apps["web"].state == "Ready", cluster.timeout
    )
    assert report.apps["bad"].state == "Failed"
    assert "ConfigMap" in report.apps["bad"].message
    assert "must be between 1 and 65535" in report.apps["bad"].message
    assert sim.get("v1", "ConfigMap", "ok", bad) is not None, "the app's other objects applied"
    schemas.validator("reported").validate(report.to_dict())


def test_a_rollout_in_progress_is_reported_until_it_completes(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, start_agent: Callable[..., Agent]
) -> None:
    sim = cluster.require_sim("holding a rollout")
    ns = cluster.namespace("web")
    sim.hold_rollout(ns, "web")
    doc = document(NODE, {"web": app(ns, deployment("web", replicas=2))}, 1)
    start_agent()
    publish(mosquitto.url, TOPICS.desired(NODE), doc.to_json())
    report = wait_report(
        reports, lambda r: r.state == "Progressing" and r.observed_generation == 1, cluster.timeout
    )
    assert report.apps["web"].state == "Progressing"
    assert report.apps["web"].message.startswith(f"Deployment {ns}/web:")
    sim.hold_rollout(ns, "web", held=False)
    wait_report(reports, synced(1), cluster.timeout)
