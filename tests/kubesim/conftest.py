"""Fixtures for the stand-in's tests: a running KubeSim and official clients bound to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, dynamic

from shoal.kubesim import KubeSim


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(rollout_seconds=0.3) as running:
        yield running


@pytest.fixture
def api(sim: KubeSim) -> Iterator[client.ApiClient]:
    api_client = sim.api_client()
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def dyn(api: client.ApiClient, tmp_path: Path) -> dynamic.DynamicClient:
    # Its own discovery cache file: the default one is shared per host:port in /tmp.
    return dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))


def deployment(
    name: str = "web", namespace: str = "web", image: str = "nginx:1.27", replicas: int = 2
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def config_map(
    name: str, namespace: str = "web", labels: dict[str, str] | None = None, **data: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "data": data,
    }
