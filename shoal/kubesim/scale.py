"""The `scale` subresource of a workload, as an autoscaling/v1 Scale.

`store.Store.scale` answers it and `rescale` writes through it, for `kubectl scale`
and the client's `*_namespaced_*_scale` calls: a Scale shows spec.replicas and the
status' replicas and selector; writing one changes only the workload's spec.replicas.
"""

from __future__ import annotations

from typing import Any


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale of workload `obj`."""
    metadata = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: metadata[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in metadata
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }
