"""Which lists Kubernetes merges item by item, and by which key: one table for kubesim.

Kubernetes' API types mark these lists `patchStrategy=merge` with a `patchMergeKey`
(for a strategic merge patch) and `listType=map` with the same key among their
`listMapKey`s (for server-side apply). `patches.strategic_merge_patch` merges them by
`MERGE_KEYS`; `ownership` (server-side apply) walks their items by the same key.
Every other list is one value: replaced by a patch, owned whole by an applier.

Where server-side apply keys a list by two fields, kubesim keys it by the merge key
alone: `topologySpreadConstraints` (topologyKey and whenUnsatisfiable on a real
server) and `ports`, which strategic merge keys by containerPort in a pod and by port
in a Service (`PORT_KEYS`) and apply keeps whole (docs/kubernetes-stand-in.md).
"""

from __future__ import annotations

from typing import Final

# Field name -> patchMergeKey (k8s.io/api core/v1 types).
MERGE_KEYS: Final = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "topologySpreadConstraints": "topologyKey",
}

# "ports" merges by containerPort in a pod's containers and by port in a Service.
PORT_KEYS: Final = ("containerPort", "port")
