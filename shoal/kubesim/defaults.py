"""The defaults the real API server fills into objects, where clients read them back.

Called by `store.py` on every create and update, before validation.
"""

from __future__ import annotations

import base64
from typing import Any


def apply_defaults(obj: dict[str, Any]) -> None:
    """The defaults the real server fills in that clients commonly read back."""
    if obj.get("kind") == "Secret":
        _secret(obj)
    kind, spec = obj.get("kind"), obj.get("spec")
    if not isinstance(spec, dict):
        return
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
    if kind == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
        )
    if kind == "Service":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))


def _secret(obj: dict[str, Any]) -> None:
    """`stringData` is write-only: the server base64-encodes it into `data`."""
    obj.setdefault("type", "Opaque")
    plain = obj.pop("stringData", None)
    if isinstance(plain, dict):
        data = obj.setdefault("data", {})
        for key, value in plain.items():
            if isinstance(value, str):
                data[key] = base64.b64encode(value.encode()).decode()
