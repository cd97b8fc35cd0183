"""Fixtures for the edge tests: a Kubernetes cluster (the stand-in, or a real one) and
an edge agent running in-process against it and a real Mosquitto.

`SHOAL_TEST_KUBECONFIG=/path/to/kubeconfig` runs the same tests against that real
cluster (each test works in namespaces of its own and deletes them afterwards);
assertions only the stand-in can set up (rejecting manifests, holding rollouts)
skip there. Without it, every test gets a fresh `KubeSim`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.agent import Agent, AgentSettings
from edge.runtime.kubernetes import KubernetesRuntime, client_factory
from shadow import ReportedDocument, Topics
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder
from tests.support.waiting import wait_until
from transport import BrokerOptions

REAL_KUBECONFIG = os.environ.get("SHOAL_TEST_KUBECONFIG")


class Cluster:
    """What a test sees of Kubernetes: read, delete and (stand-in only) misbehave."""

    def __init__(self, kubeconfig: Path, sim: Any = None) -> None:
        self.kubeconfig = kubeconfig
        self.sim = sim
        self.real = sim is None
        # Real clusters pull images and schedule pods: give them time.
        self.timeout = 180.0 if self.real else 20.0
        self.prefix = f"t{uuid.uuid4().hex[:6]}"
        self._dynamic: Any = None

    def namespace(self, name: str) -> str:
        """A namespace name unique to this test (real clusters are shared)."""
        return f"{self.prefix}-{name}"

    def require_sim(self, what: str) -> Any:
        if self.sim is None:
            pytest.skip(f"{what} needs the API stand-in (not a real cluster)")
        return self.sim

    def _client(self) -> Any:
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            self._dynamic = DynamicClient(client_factory(str(self.kubeconfig))())
        return self._dynamic

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        if self.sim is not None:
            return self.sim.get(api_version, kind, name, namespace)
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._client().resources.get(api_version=api_version, kind=kind)
        try:
            return self._client().get(resource, name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        if self.sim is not None:
            self.sim.delete(api_version, kind, name, namespace)
            return
        resource = self._client().resources.get(api_version=api_version, kind=kind)
        self._client().delete(resource, name=name, namespace=namespace)

    def cleanup(self) -> None:
        if self.sim is not None:
            return
        resource = self._client().resources.get(api_version="v1", kind="Namespace")
        for ns in self._client().get(resource).items:
            if ns.metadata.name.startswith(self.prefix + "-"):
                self._client().delete(resource, name=ns.metadata.name)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if REAL_KUBECONFIG:
        real = Cluster(Path(REAL_KUBECONFIG))
        try:
            yield real
        finally:
            real.cleanup()
        return
    from shoal.kubesim import KubeSim

    sim = KubeSim(rollout_seconds=0.2).start()
    try:
        yield Cluster(sim.write_kubeconfig(tmp_path / "kubeconfig"), sim)
    finally:
        sim.stop()


NODE = "edge-001"
TOPICS = Topics()


@pytest.fixture
def start_agent(
    tmp_path: Path, cluster: Cluster, mosquitto: Mosquitto
) -> Iterator[Callable[..., Agent]]:
    """Start an agent for NODE (stopped after the test); keywords override its settings."""
    agents: list[Agent] = []

    def start(**overrides: Any) -> Agent:
        settings = AgentSettings(
            node=NODE,
            state_dir=tmp_path / "state",
            report_interval=overrides.pop("report_interval", 30.0),
            reconcile_interval=overrides.pop("reconcile_interval", 0.5),
            progress_interval=0.2,
            reconnect_max_delay=1,
            **overrides,
        )
        runtime = KubernetesRuntime(
            client_factory(str(cluster.kubeconfig)),
            discovery_cache=tmp_path / "state" / "discovery-cache.json",
        )
        agent = Agent(settings, runtime, BrokerOptions.from_url(mosquitto.url)).start()
        agents.append(agent)
        return agent

    try:
        yield start
    finally:
        for agent in agents:
            agent.stop()


@pytest.fixture
def reports(mosquitto: Mosquitto) -> Iterator[Recorder]:
    with Recorder(mosquitto.url, TOPICS.reported(NODE), TOPICS.online(NODE)) as recorder:
        yield recorder


def wait_report(
    recorder: Recorder,
    condition: Callable[[ReportedDocument], bool],
    timeout: float = 20.0,
    message: str = "",
) -> ReportedDocument:
    """The latest report once it satisfies `condition`."""
    topic = TOPICS.reported(NODE)

    def latest() -> ReportedDocument | None:
        payload = recorder.latest.get(topic)
        if payload is None:
            return None
        report = ReportedDocument.from_json(payload)
        return report if condition(report) else None

    try:
        return wait_until(latest, timeout)
    except AssertionError:
        last = recorder.latest.get(topic)
        raise AssertionError(
            f"{message or 'no matching report'} within {timeout}s; last report: "
            f"{last.decode() if last else None}"
        ) from None
