"""An agent that runs in the node's cluster updates itself by updating its own Deployment.

`shoal edge --self-update cluster --agent-deployment NAMESPACE/NAME` (Baetyl's model).
When the document names a release whose `image` differs from the Deployment's, the agent
patches the image; Kubernetes rolls out a new pod and keeps the old one running until the
new one is Ready (the bundle's Deployment uses maxUnavailable 0, and the agent's readiness
probe means connected and the node's document re-applied). Meanwhile the old agent steps
back from the broker (`on_standby(True)`), so the new one can take the node's MQTT
session, and watches the rollout (`judge_rollout`, decided on the Deployment's status
conditions alone). Complete: Kubernetes removes the old pod. Failed — ProgressDeadline-
Exceeded, or not complete within the release's health timeout — the old agent patches the
previous image back, takes the broker again and reports `reverted` with the reason.

The stand-in API server cannot run containers; tests drive this against its Deployment
status (it rolls out on a timer and can hold a rollout past its deadline).
docs/agent-updates.md says what a real cluster adds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shadow import AgentRelease, AgentUpdate

log = logging.getLogger(__name__)

PREVIOUS_IMAGE = "shoal.dev/agent-previous-image"  # annotation: what a rollback goes back to


@dataclass(frozen=True)
class Rollout:
    state: str  # progressing, complete or failed
    reason: str = ""


def judge_rollout(
    deployment: dict[str, Any], image: str, elapsed: float, timeout: float
) -> Rollout:
    """Where the rollout of `image` stands, from the Deployment's spec and status alone."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    metadata = deployment.get("metadata") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    if image not in [c.get("image") for c in containers]:
        return Rollout("failed", f"the Deployment no longer runs {image}: changed by someone else")
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing") or {}
    if (
        progressing.get("status") == "False"
        and progressing.get("reason") == "ProgressDeadlineExceeded"
    ):
        return Rollout(
            "failed",
            f"the agent pod never became Ready: {progressing.get('message', '')}".rstrip(": "),
        )
    wanted = spec.get("replicas", 1)
    done = (
        status.get("observedGeneration", 0) >= metadata.get("generation", 0)
        and status.get("updatedReplicas", 0) == wanted
        and status.get("availableReplicas", 0) == wanted
        and status.get("replicas", 0) == wanted
    )
    if done:
        return Rollout("complete")
    if elapsed > timeout:
        return Rollout("failed", f"the new agent was not Ready within {timeout:.0f}s")
    return Rollout("progressing")


class ClusterUpdater:
    """The updater of an agent that runs as `namespace/name` in its cluster (edge/agent.py
    calls it exactly as it calls the host updater)."""

    def __init__(
        self,
        api_client: Callable[[], Any],
        namespace: str,
        name: str,
        container: str = "agent",
        poll: float = 1.0,
    ) -> None:
        self._api_client = api_client
        self.namespace, self.name, self.container = namespace, name, container
        self.poll = poll
        self.restart = threading.Event()  # never set: Kubernetes replaces this pod
        self.on_change: Callable[[], None] = lambda: None
        self.on_standby: Callable[[bool], None] = lambda _: None
        self._lock = threading.Lock()
        self._busy = False
        self._last: AgentUpdate | None = None
        self._tried: set[str] = set()

    def status(self) -> AgentUpdate | None:
        with self._lock:
            return self._last

    def healthy(self) -> None:
        """Readiness is the pod's probe (edge --http); nothing to write here."""

    def consider(self, release: AgentRelease | None) -> None:
        if release is None or not release.image or release.image in self._tried:
            return
        with self._lock:
            if self._busy:
                return
            self._busy = True
        threading.Thread(target=self._update, args=(release,), daemon=True).start()

    # --- the update ----------------------------------------------------------------------

    def _apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self._api_client())

    def _update(self, release: AgentRelease) -> None:
        try:
            self._roll_out(release)
        except Exception as exc:  # the API went away, a bug: the running agent stays
            log.exception("agent update to %s failed", release.version)
            self._set(
                AgentUpdate(release.version, "failed", f"cannot update the Deployment: {exc}")
            )
        finally:
            with self._lock:
                self._busy = False

    def _roll_out(self, release: AgentRelease) -> None:
        apps = self._apps()
        deployment = apps.read_namespaced_deployment(self.name, self.namespace).to_dict()
        current = self._image(deployment)
        if current == release.image:
            return  # this pod is the new agent, or the update is underway
        self._tried.add(release.image)
        log.info(
            "updating the agent Deployment %s/%s to %s", self.namespace, self.name, release.image
        )
        self._set(AgentUpdate(release.version, "trial"))
        self._patch(apps, release.image, current)
        self.on_standby(True)
        started = time.monotonic()
        while True:
            time.sleep(self.poll)
            live = apps.read_namespaced_deployment(self.name, self.namespace)
            verdict = judge_rollout(
                _camel(live), release.image, time.monotonic() - started, release.health_timeout
            )
            if verdict.state == "complete":
                log.info("agent %s is rolled out; Kubernetes replaces this pod", release.version)
                self._set(None)
                return
            if verdict.state == "failed":
                log.error(
                    "agent %s: %s; rolling back to %s", release.version, verdict.reason, current
                )
                self._patch(apps, current, current)
                self.on_standby(False)
                self._set(AgentUpdate(release.version, "reverted", verdict.reason))
                return

    def _image(self, deployment: dict[str, Any]) -> str:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            if container["name"] == self.container:
                return str(container["image"])
        raise LookupError(
            f"the Deployment {self.namespace}/{self.name} has no container {self.container!r}"
        )

    def _patch(self, apps: Any, image: str, previous: str) -> None:
        body = {
            "metadata": {"annotations": {PREVIOUS_IMAGE: previous}},
            "spec": {
                "template": {"spec": {"containers": [{"name": self.container, "image": image}]}}
            },
        }
        apps.patch_namespaced_deployment(self.name, self.namespace, body)

    def _set(self, update: AgentUpdate | None) -> None:
        with self._lock:
            self._last = update
        self.on_change()


def _camel(deployment: Any) -> dict[str, Any]:
    """The Deployment as the API wrote it (camelCase keys), from the client's model."""
    from kubernetes import client

    data: dict[str, Any] = client.ApiClient().sanitize_for_serialization(deployment)  # type: ignore[no-untyped-call]
    return data
