"""Desired documents for the edge tests, built the way the controller builds them."""

from __future__ import annotations

from typing import Any

from shadow import DesiredApp, DesiredDocument, next_generation


def configmap(name: str, namespace: str | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(data)}


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def app(namespace: str, *resources: dict[str, Any], version: str = "1.0") -> DesiredApp:
    return DesiredApp.build(version, namespace, list(resources))


class Generations:
    """Strictly increasing generations for one test's documents."""

    def __init__(self) -> None:
        self.last: int | None = None

    def next(self) -> int:
        self.last = next_generation(self.last)
        return self.last


def document(
    node: str, apps: dict[str, DesiredApp], generation: int, revision: str = "c0ffee"
) -> DesiredDocument:
    return DesiredDocument.build(node, revision, generation, apps)
