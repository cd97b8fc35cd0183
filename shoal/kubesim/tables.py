"""`kubectl get` columns: the server-side Table rendering of objects.

kubectl asks for `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` and prints
the rows the server computes. `server.py` answers GET and LIST with `table()` when
a client asks for one, so `kubectl get deploy -A` against a stand-in shows READY,
UP-TO-DATE and AVAILABLE as it would against a real cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Column = tuple[str, str, Callable[[dict[str, Any]], Any]]  # name, type, cell


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _ports(obj: dict[str, Any]) -> str:
    ports = [f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in _spec(obj).get("ports") or []]
    return ",".join(ports) or "<none>"


def _job_status(obj: dict[str, Any]) -> str:
    return "Complete" if _status(obj).get("succeeded") else "Running"


_COLUMNS: dict[str, list[Column]] = {
    "Deployment": [
        (
            "Ready",
            "string",
            lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}",
        ),
        ("Up-to-date", "integer", lambda o: _status(o).get("updatedReplicas", 0)),
        ("Available", "integer", lambda o: _status(o).get("availableReplicas", 0)),
    ],
    "StatefulSet": [
        (
            "Ready",
            "string",
            lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}",
        ),
    ],
    "DaemonSet": [
        ("Desired", "integer", lambda o: _status(o).get("desiredNumberScheduled", 0)),
        ("Current", "integer", lambda o: _status(o).get("currentNumberScheduled", 0)),
        ("Ready", "integer", lambda o: _status(o).get("numberReady", 0)),
        ("Up-to-date", "integer", lambda o: _status(o).get("updatedNumberScheduled", 0)),
        ("Available", "integer", lambda o: _status(o).get("numberAvailable", 0)),
    ],
    "ReplicaSet": [
        ("Desired", "integer", lambda o: _spec(o).get("replicas", 1)),
        ("Current", "integer", lambda o: _status(o).get("replicas", 0)),
        ("Ready", "integer", lambda o: _status(o).get("readyReplicas", 0)),
    ],
    "Pod": [
        ("Ready", "string", lambda o: "1/1" if _status(o).get("phase") == "Running" else "0/1"),
        ("Status", "string", lambda o: _status(o).get("phase", "Pending")),
        ("Restarts", "string", lambda o: "0"),
    ],
    "Job": [
        ("Status", "string", _job_status),
        ("Completions", "string", lambda o: f"{_status(o).get('succeeded', 0)}/1"),
    ],
    "Namespace": [("Status", "string", lambda o: _status(o).get("phase", "Active"))],
    "ConfigMap": [("Data", "integer", lambda o: len(o.get("data") or {}))],
    "Secret": [
        ("Type", "string", lambda o: o.get("type", "Opaque")),
        ("Data", "integer", lambda o: len(o.get("data") or {})),
    ],
    "Service": [
        ("Type", "string", lambda o: _spec(o).get("type", "ClusterIP")),
        ("Cluster-IP", "string", lambda o: _spec(o).get("clusterIP", "<none>")),
        ("Port(s)", "string", _ports),
    ],
    "PersistentVolumeClaim": [("Status", "string", lambda o: _status(o).get("phase", "Pending"))],
}


def _name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _age(created: str | None, now: datetime) -> str:
    if not created:
        return "<unknown>"
    seconds = int(
        (now - datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)).total_seconds()
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def table(kind: str, items: list[dict[str, Any]], resource_version: str) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `items` (objects of one kind)."""
    columns: list[Column] = [("Name", "string", _name), *_COLUMNS.get(kind, [])]
    now = datetime.now(UTC)
    definitions = [
        {
            "name": name,
            "type": type_,
            "format": "name" if name == "Name" else "",
            "description": "",
            "priority": 0,
        }
        for name, type_, _ in columns
    ] + [{"name": "Age", "type": "string", "format": "", "description": "", "priority": 0}]
    rows = [
        {
            "cells": [cell(obj) for _, _, cell in columns]
            + [_age(obj["metadata"].get("creationTimestamp"), now)],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            },
        }
        for obj in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
