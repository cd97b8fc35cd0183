"""An agent in its node's cluster updating its own Deployment, decided on the Deployment's
status conditions, against the API stand-in (which rolls out on a timer and can hold a
rollout past its progress deadline; it runs no containers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from edge.selfupdate.incluster import PREVIOUS_IMAGE, ClusterUpdater, judge_rollout
from shadow import AgentRelease
from shoal.kubesim import KubeSim
from tests.support.waiting import wait_until

NS, NAME = "shoal-system", "shoal-edge"


def agent_deployment(image: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "shoal-edge"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": 2,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "agent", "image": image}]},
            },
        },
    }


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(rollout_seconds=0.5) as running:
        api = running.api_client()
        client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
        client.AppsV1Api(api).create_namespaced_deployment(NS, agent_deployment("shoal-edge:0.0.1"))
        api.close()
        yield running


def image_of(sim: KubeSim) -> str:
    live = sim.get("apps/v1", "Deployment", NAME, NS)
    assert live is not None
    return str(live["spec"]["template"]["spec"]["containers"][0]["image"])


def updater(sim: KubeSim, standby: list[bool]) -> ClusterUpdater:
    made = ClusterUpdater(sim.api_client, NS, NAME, poll=0.1)
    made.on_standby = standby.append
    return made


def test_a_new_image_rolls_out_and_the_old_agent_hands_over(sim: KubeSim) -> None:
    standby: list[bool] = []
    agent = updater(sim, standby)
    agent.consider(AgentRelease("0.0.2", image="shoal-edge:0.0.2", health_timeout=30))
    wait_until(lambda: standby == [True], 20, message="the old agent did not step back")
    assert getattr(agent.status(), "state", None) == "trial"
    wait_until(lambda: agent.status() is None, 20, message="the rollout never completed")
    assert image_of(sim) == "shoal-edge:0.0.2"
    assert standby == [True]  # complete: Kubernetes replaces the old pod, it never comes back
    live = sim.get("apps/v1", "Deployment", NAME, NS)
    assert (
        live is not None and live["metadata"]["annotations"][PREVIOUS_IMAGE] == "shoal-edge:0.0.1"
    )


def test_a_pod_that_never_becomes_ready_is_rolled_back_with_the_reason(sim: KubeSim) -> None:
    standby: list[bool] = []
    agent = updater(sim, standby)
    sim.hold_rollout(NS, NAME)  # the new pod never gets Ready; the deadline is 2 s
    agent.consider(AgentRelease("0.0.3", image="shoal-edge:0.0.3", health_timeout=60))
    wait_until(
        lambda: (agent.status() or None) and agent.status().state == "reverted",
        30,
        message="no rollback",
    )  # type: ignore[union-attr]
    update = agent.status()
    assert update is not None and "never became Ready" in update.reason
    assert image_of(sim) == "shoal-edge:0.0.1"
    assert standby == [True, False]  # it took the broker back
    agent.consider(AgentRelease("0.0.3", image="shoal-edge:0.0.3"))  # the same release again
    assert image_of(sim) == "shoal-edge:0.0.1"  # is not retried until git names another


def test_the_same_image_changes_nothing(sim: KubeSim) -> None:
    standby: list[bool] = []
    agent = updater(sim, standby)
    before = sim.get("apps/v1", "Deployment", NAME, NS)
    agent.consider(AgentRelease("0.0.1", image="shoal-edge:0.0.1"))
    agent.consider(AgentRelease("0.0.1"))  # no image: a host release, nothing to do here
    wait_until(lambda: not agent._busy, 10)
    assert (
        sim.get("apps/v1", "Deployment", NAME, NS)["metadata"]["resourceVersion"]
        == before["metadata"]["resourceVersion"]
    )  # type: ignore[index]
    assert standby == [] and agent.status() is None


def test_judging_a_rollout_from_its_conditions() -> None:
    deployment = agent_deployment("e:2")
    deployment["metadata"]["generation"] = 2
    deployment["status"] = {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 0,
        "availableReplicas": 1,
    }
    assert judge_rollout(deployment, "e:2", 1, 60).state == "progressing"
    assert judge_rollout(deployment, "e:2", 61, 60).state == "failed"
    deployment["status"] |= {"observedGeneration": 2, "updatedReplicas": 1}
    assert judge_rollout(deployment, "e:2", 1, 60).state == "complete"
    assert "changed by someone else" in judge_rollout(deployment, "e:3", 1, 60).reason
