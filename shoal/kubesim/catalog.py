"""The kinds the stand-in serves, as discovery describes them.

One `Kind` per served resource: its group/version, plural and singular names,
whether it lives in a namespace, its verbs and short names, and whether the real
API server tracks `metadata.generation` for it. `routes.py` resolves URL paths
against this catalogue and `discovery.py` renders it as APIResourceList documents.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_WRITE = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CLUSTER_READ_WRITE = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Kind:
    """One served resource type."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    # The real server bumps metadata.generation only for kinds whose strategy tracks it
    # (those with a spec a controller acts on); ConfigMap, Secret, Service... carry none.
    tracks_generation: bool = False
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified_plural(self) -> str:
        """`deployments.apps`, or `configmaps` in the core group: how error messages name a kind."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """`Deployment.apps`, or `ConfigMap`: how validation errors name a kind."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def verbs(self) -> tuple[str, ...]:
        if self.kind == "Namespace":
            return CLUSTER_READ_WRITE
        return READ_WRITE


def _kinds() -> tuple[Kind, ...]:
    all_ = ("all",)
    return (
        Kind("", "v1", "Namespace", "namespaces", False, ("ns",), subresources=("status",)),
        Kind("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
        Kind("", "v1", "Secret", "secrets", True),
        Kind(
            "",
            "v1",
            "Service",
            "services",
            True,
            ("svc",),
            subresources=("status",),
            categories=all_,
        ),
        Kind("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
        Kind(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            True,
            ("pvc",),
            subresources=("status",),
        ),
        Kind("", "v1", "Pod", "pods", True, ("po",), subresources=("status",), categories=all_),
        Kind(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            True,
            ("deploy",),
            True,
            ("status", "scale"),
            all_,
        ),
        Kind(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            True,
            ("sts",),
            True,
            ("status", "scale"),
            all_,
        ),
        Kind("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), True, ("status",), all_),
        Kind(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            True,
            ("rs",),
            True,
            ("status", "scale"),
            all_,
        ),
        Kind("batch", "v1", "Job", "jobs", True, (), True, ("status",), all_),
        Kind("batch", "v1", "CronJob", "cronjobs", True, ("cj",), True, ("status",), all_),
        Kind("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), True, ("status",)),
        Kind(
            "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",), True
        ),
        Kind("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
        Kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
        Kind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
        Kind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
        Kind(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            True,
            ("pdb",),
            True,
            ("status",),
        ),
        Kind(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            True,
            ("hpa",),
            True,
            ("status",),
            all_,
        ),
    )


KINDS: tuple[Kind, ...] = _kinds()


class Catalog:
    """Look kinds up by (apiVersion, kind) or by (group, version, plural)."""

    def __init__(self, kinds: tuple[Kind, ...] = KINDS) -> None:
        self.kinds = kinds
        self._by_kind = {(k.api_version, k.kind): k for k in kinds}
        self._by_plural = {(k.group, k.version, k.plural): k for k in kinds}

    def by_kind(self, api_version: str, kind: str) -> Kind | None:
        return self._by_kind.get((api_version, kind))

    def by_plural(self, group: str, version: str, plural: str) -> Kind | None:
        return self._by_plural.get((group, version, plural))

    def groups(self) -> dict[str, list[str]]:
        """Named groups (not core) and their versions, in catalogue order."""
        out: dict[str, list[str]] = {}
        for k in self.kinds:
            if k.group and k.version not in out.setdefault(k.group, []):
                out[k.group].append(k.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[Kind]:
        return [k for k in self.kinds if k.group == group and k.version == version]

    def namespace_kind(self) -> Kind:
        ns = self.by_kind("v1", "Namespace")
        assert ns is not None
        return ns
