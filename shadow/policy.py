"""What an app may touch: namespaces, kinds, cluster-scoped kinds, powerful RBAC.

In the spirit of Argo CD's AppProject. A `Policy` is one set of rules from one source:
`fleet.yaml` (the fleet's rules, over shoal's defaults), an app's `app.yaml` (narrowing
the fleet's for that app), or the edge's local policy (the node owner's, narrowing
whatever documents say). An object is allowed only when every policy that applies
allows it (`check_all`), so a later source can only take away.

The controller (controller/render/) checks each rendered object and carries the app's
policies in its Desired entry (`DesiredApp.policy`; left out when it is just the
default, so documents and digests without a policy stay as they were); the edge
(edge/reconciler.py) checks the same objects again with the document's policies plus
its local one before building any request.

Rules, each a list of globs (`*`, `?`, `[..]`); an entry starting with `!` denies what
it matches, and a list of denials only allows everything else:
- `namespaces`: where namespaced objects may go, and which Namespace objects an app
  may create;
- `kinds`: namespaced kinds, `Kind` (any API group) or `group/Kind` (`apps/*`; the core
  group is `core`);
- `clusterKinds`: cluster-scoped kinds, written the same way;
- `privilegedRbac`: Roles or ClusterRoles granting `*` verbs or resources, `escalate`,
  `bind` or `impersonate`, or aggregating other roles, and bindings of cluster-admin,
  admin, edit or a `system:` role.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final

RBAC_GROUP: Final = "rbac.authorization.k8s.io"
POWERFUL_ROLES: Final = ("cluster-admin", "admin", "edit", "system:*")
POWERFUL_VERBS: Final = frozenset({"*", "escalate", "bind", "impersonate"})
SYSTEM_NAMESPACES: Final = ("kube-system", "kube-public", "kube-node-lease")
_FIELDS: Final = ("namespaces", "kinds", "clusterKinds", "privilegedRbac")


class PolicyError(ValueError):
    """A policy is malformed; `path` says where (`policy.kinds[2]`)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class Refusal:
    """Why a policy refuses an object: the rule (`policy.clusterKinds`) and a sentence."""

    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Policy:
    """One source's rules (see the module docstring for their meaning)."""

    source: str  # who set them: "fleet.yaml", "apps/web/app.yaml", ...
    namespaces: tuple[str, ...] = ("*",)
    kinds: tuple[str, ...] = ("*",)
    cluster_kinds: tuple[str, ...] = ("*",)
    privileged_rbac: bool = True

    # --- reading and writing ------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, source: str, base: Policy, path: str = "policy") -> Policy:
        """Rules from a mapping (fleet.yaml, app.yaml, edge config, a Desired document);
        a field left out keeps `base`'s value."""
        if not isinstance(data, Mapping):
            raise PolicyError(path, f"must be a mapping, got {type(data).__name__}")
        unknown = sorted(str(k) for k in data if k not in _FIELDS and k != "source")
        if unknown:
            raise PolicyError(
                f"{path}.{unknown[0]}", f"unknown field (known: {', '.join(_FIELDS)})"
            )
        privileged = data.get("privilegedRbac", base.privileged_rbac)
        if not isinstance(privileged, bool):
            raise PolicyError(f"{path}.privilegedRbac", "must be true or false")
        return cls(
            source=source,
            namespaces=_patterns(data, "namespaces", path, base.namespaces),
            kinds=_patterns(data, "kinds", path, base.kinds),
            cluster_kinds=_patterns(data, "clusterKinds", path, base.cluster_kinds),
            privileged_rbac=privileged,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "namespaces": list(self.namespaces),
            "kinds": list(self.kinds),
            "clusterKinds": list(self.cluster_kinds),
            "privilegedRbac": self.privileged_rbac,
        }

    def same_rules(self, other: Policy) -> bool:
        return self.to_dict() | {"source": ""} == other.to_dict() | {"source": ""}

    # --- judging ------------------------------------------------------------------------

    def check(self, obj: Mapping[str, Any], namespaced: bool) -> Refusal | None:
        """Why this policy refuses `obj` (namespaced or not, as the cluster says), or None."""
        kind = str(obj.get("kind") or "")
        group = _group(str(obj.get("apiVersion") or ""))
        raw_meta = obj.get("metadata")
        meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
        name = str(meta.get("name") or "")
        if namespaced:
            namespace = str(meta.get("namespace") or "")
            if not allows(self.namespaces, namespace):
                return self._refusal("namespaces", f"namespace {namespace}")
            if not _allows_kind(self.kinds, group, kind):
                return self._refusal("kinds", f"kind {_kind_name(group, kind)}")
        else:
            if not _allows_kind(self.cluster_kinds, group, kind):
                return self._refusal(
                    "clusterKinds", f"cluster-scoped kind {_kind_name(group, kind)}"
                )
            if kind == "Namespace" and group == "" and not allows(self.namespaces, name):
                return self._refusal("namespaces", f"namespace {name}")
        if group == RBAC_GROUP and not self.privileged_rbac:
            power = rbac_power(kind, obj)
            if power:
                return self._refusal("privilegedRbac", f"{kind} {name} {power}")
        return None

    def _refusal(self, field: str, what: str) -> Refusal:
        rule = f"policy.{field}"
        if field == "privilegedRbac":
            detail = f"{what}: not allowed by {rule}: false ({self.source})"
        else:
            listed = ", ".join(getattr(self, _ATTRIBUTES[field])) or "nothing"
            detail = f"{what} is not allowed by {rule} [{listed}] ({self.source})"
        return Refusal(rule, detail)


_ATTRIBUTES: Final = {"namespaces": "namespaces", "kinds": "kinds", "clusterKinds": "cluster_kinds"}

DEFAULT_POLICY: Final = Policy(
    source="shoal's default; set policy in fleet.yaml to change it",
    namespaces=("*", *(f"!{ns}" for ns in SYSTEM_NAMESPACES)),
    kinds=("*",),
    cluster_kinds=("Namespace",),
    privileged_rbac=False,
)
UNRESTRICTED: Final = Policy(source="")


def effective(fleet: Policy | None, app: Policy | None) -> tuple[Policy, ...]:
    """An app's policies, as its Desired entry carries them: the fleet's (shoal's
    default when fleet.yaml sets none), then the app's own; () when that is just
    shoal's default, which the edge assumes for an entry without a policy."""
    policies = (fleet or DEFAULT_POLICY, *((app,) if app is not None else ()))
    return () if policies == (DEFAULT_POLICY,) else policies


def beyond(fleet: Policy, app: Policy) -> list[str]:
    """Plain entries of an app's policy that the fleet's does not allow: they allow
    nothing (an object must pass both), so `shoal validate` notes them."""
    found = []
    for entry in app.namespaces:
        if _plain(entry) and not allows(fleet.namespaces, entry):
            found.append(f"namespaces: {entry}")
    for field, mine, theirs in (
        ("kinds", app.kinds, fleet.kinds),
        ("clusterKinds", app.cluster_kinds, fleet.cluster_kinds),
    ):
        for entry in mine:
            group, _, kind = entry.rpartition("/")
            if _plain(entry) and not _allows_kind(theirs, "" if group == "core" else group, kind):
                found.append(f"{field}: {entry}")
    return found


def _plain(entry: str) -> bool:
    return not entry.startswith("!") and not any(c in entry for c in "*?[")


def check_all(
    policies: Sequence[Policy], obj: Mapping[str, Any], namespaced: bool
) -> Refusal | None:
    """The first refusal of any of `policies` (every one must allow `obj`), or None."""
    for policy in policies:
        refusal = policy.check(obj, namespaced)
        if refusal is not None:
            return refusal
    return None


def allows(patterns: Sequence[str], value: str) -> bool:
    """A value matches some pattern and no `!` pattern (only denials: any other value)."""
    return _permitted(patterns, lambda pattern: fnmatchcase(value, pattern))


def rbac_power(kind: str, obj: Mapping[str, Any]) -> str:
    """What makes an RBAC object powerful ("grants verb *"), or "" when it is not."""
    if kind in ("Role", "ClusterRole"):
        if obj.get("aggregationRule"):
            return "aggregates other roles (aggregationRule)"
        rules = obj.get("rules")
        for rule in rules if isinstance(rules, list) else []:
            if not isinstance(rule, Mapping):
                continue
            verbs = [str(v) for v in rule.get("verbs") or [] if isinstance(v, str)]
            strong = sorted(POWERFUL_VERBS.intersection(verbs))
            if strong:
                return f"grants verb {', '.join(strong)}"
            resources = rule.get("resources") or []
            if "*" in resources:
                return "grants every resource (resources: *)"
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        role_ref = obj.get("roleRef")
        role = str(role_ref.get("name") or "") if isinstance(role_ref, Mapping) else ""
        if any(fnmatchcase(role, p) for p in POWERFUL_ROLES):
            return f"binds the powerful role {role}"
    return ""


def policies_to_list(policies: Sequence[Policy]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in policies]


def policies_from_list(data: Any, path: str) -> tuple[Policy, ...]:
    """The policies of a Desired app entry (each written in full, with its source)."""
    if not isinstance(data, list):
        raise PolicyError(path, f"must be a list, got {type(data).__name__}")
    out = []
    for i, item in enumerate(data):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("source"), str):
            raise PolicyError(where, "must be a mapping with a source")
        out.append(Policy.from_dict(item, item["source"], DEFAULT_POLICY, where))
    return tuple(out)


def _patterns(
    data: Mapping[str, Any], key: str, path: str, default: tuple[str, ...]
) -> tuple[str, ...]:
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(f"{path}.{key}", "must be a list of non-empty strings (globs)")
    return tuple(value)


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _kind_name(group: str, kind: str) -> str:
    return f"{group}/{kind}" if group else kind


def _allows_kind(patterns: Sequence[str], group: str, kind: str) -> bool:
    """`allows` over kinds: `Kind` matches in any group, `group/Kind` in matching groups."""

    def matches(pattern: str) -> bool:
        if "/" not in pattern:
            return fnmatchcase(kind, pattern)
        want_group, want_kind = pattern.rsplit("/", 1)
        return fnmatchcase(group or "core", want_group) and fnmatchcase(kind, want_kind)

    return _permitted(patterns, matches)


def _permitted(patterns: Sequence[str], matches: Callable[[str], bool]) -> bool:
    denied = [p[1:] for p in patterns if p.startswith("!")]
    if any(matches(p) for p in denied):
        return False
    allowed = [p for p in patterns if not p.startswith("!")]
    return any(matches(p) for p in allowed) if allowed else bool(denied)
