"""One app's unexpected error stays that app's: the others apply, and the report goes
out naming the failed app and each refused object's reason (a real Mosquitto, the
agent in-process, the API stand-in)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import schemas
from edge.agent import Agent, AgentSettings
from edge.runtime import Applied, ObjectRef
from edge.runtime.kubernetes import KubernetesRuntime, client_factory
from shadow import DesiredApp
from shadow.policy import Policy
from tests.edge.conftest import NODE, TOPICS, Cluster, wait_report
from tests.edge.documents import app, configmap, document
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder, publish
from transport import BrokerOptions


class BuggyRuntime(KubernetesRuntime):
    """The real runtime, with a bug that only app `broken` runs into."""

    def apply(
        self, app: str, desired: DesiredApp, only: Collection[ObjectRef] | None = None
    ) -> list[Applied]:
        if app == "broken":
            raise KeyError("spec")
        return super().apply(app, desired, only)


def test_one_app_raising_leaves_the_others_applied_and_reported(
    cluster: Cluster, mosquitto: Mosquitto, reports: Recorder, tmp_path: Path
) -> None:
    ns = cluster.namespace("web")
    settings: dict[str, Any] = {"reconcile_interval": 0.5, "progress_interval": 0.2}
    agent = Agent(
        AgentSettings(node=NODE, state_dir=tmp_path / "state", **settings),
        BuggyRuntime(client_factory(str(cluster.kubeconfig))),
        BrokerOptions.from_url(mosquitto.url),
    )
    cluster.require_sim("an existing kube-system the test may not touch")
    kube_system = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
    infra = DesiredApp.build("1.0", "kube-system", [kube_system], (Policy("fleet.yaml"),))
    doc = document(
        NODE,
        {
            "broken": app(cluster.namespace("broken"), configmap("x")),
            "infra": infra,
            "web": app(ns, configmap("a")),
        },
        1,
    )
    with agent:
        publish(mosquitto.url, TOPICS.desired(NODE), doc.to_json())
        report = wait_report(
            reports,
            lambda r: (
                r.observed_generation == 1
                and r.apps.get("web", None) is not None
                and r.apps["web"].state == "Ready"
                and r.apps["infra"].state == "Failed"
            ),
            cluster.timeout,
        )
        broken = report.apps["broken"]
        assert (broken.state, broken.reason) == ("Failed", "AgentError")
        assert broken.message == "unexpected error in the edge agent: KeyError: 'spec'"
        assert (report.state, report.message) == ("Degraded", "failed apps: broken, infra")
        [refused] = report.apps["infra"].resources
        assert (refused.name, refused.ready, refused.reason) == ("kube-system", False, "NotOwned")
        schemas.validator("reported").validate(report.to_dict())
        assert cluster.get("v1", "ConfigMap", "a", ns) is not None
        assert agent.alive()
