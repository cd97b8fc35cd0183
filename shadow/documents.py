"""The two shadow documents: Desired (controller -> edge) and Reported (edge -> controller).

Plain frozen dataclasses with `to_dict` / `from_dict`. `from_dict` checks structure
and types and raises `DocumentError` naming the path of the first problem; readers
ignore fields they do not know (same apiVersion). JSON Schema files for both
documents live in `schemas/` for tools and the edge's input check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

from shadow.canonical import apps_digest, canonical_json, digest
from shadow.errors import BadInput
from shadow.limits import DESIRED_LIMITS, REPORTED_LIMITS, DecodeLimits, LimitError, decode_json
from shadow.policy import Policy, PolicyError, policies_from_list, policies_to_list
from shadow.release import AgentRelease, AgentUpdate, ReleaseError

API_VERSION: Final = "shoal/v1"

NodeState = Literal["Synced", "Progressing", "Degraded", "Failed"]
AppState = Literal["Ready", "Progressing", "Failed"]
NODE_STATES: Final[tuple[NodeState, ...]] = ("Synced", "Progressing", "Degraded", "Failed")
APP_STATES: Final[tuple[AppState, ...]] = ("Ready", "Progressing", "Failed")

Resource = dict[str, Any]


class DocumentError(BadInput, ValueError):
    """A shadow document is malformed. `path` is where (`apps.web.version`)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


# --- small typed readers -------------------------------------------------------------


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    # The field's path is spelled out only for an error: reports arrive by the thousand.
    if key not in data:
        raise DocumentError(f"{path}.{key}" if path else key, "is required")
    value = data[key]
    if kind is int and isinstance(value, bool):
        raise DocumentError(f"{path}.{key}" if path else key, "must be an integer")
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        where = f"{path}.{key}" if path else key
        raise DocumentError(where, f"must be of type {name}, got {type(value).__name__}")
    return value


def _opt(data: Mapping[str, Any], key: str, kind: type, path: str, default: Any) -> Any:
    if data.get(key) is None:
        return default
    return _get(data, key, kind, path)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DocumentError(path, f"must be an object, got {type(value).__name__}")
    return value


def _check_header(data: Mapping[str, Any], kind: str) -> None:
    api = _get(data, "apiVersion", str, "")
    if api != API_VERSION:
        raise DocumentError("apiVersion", f"must be {API_VERSION!r}, got {api!r}")
    got = _get(data, "kind", str, "")
    if got != kind:
        raise DocumentError("kind", f"must be {kind!r}, got {got!r}")


def parse_json(payload: bytes | str, limits: DecodeLimits = DESIRED_LIMITS) -> Mapping[str, Any]:
    """Decode a JSON object payload within `limits`, raising DocumentError on anything else."""
    try:
        data = decode_json(payload, limits)
    except LimitError as exc:
        raise DocumentError("", str(exc)) from None
    except ValueError as exc:  # JSONDecodeError, or an integer of over 4,300 digits
        raise DocumentError("", f"not valid JSON: {exc}") from None
    return _mapping(data, "")


# --- Desired ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DesiredApp:
    """One app's rendered Kubernetes objects for one node."""

    version: str
    namespace: str
    resources: tuple[Resource, ...]
    digest: str
    # What the app may touch (shadow/policy.py), every one must allow; () is shoal's
    # default policy, and then the key is left out of the entry and its digest.
    policy: tuple[Policy, ...] = ()
    # The fleet commit this app's render came from ("": the document's `revision`). In a
    # rollout one document holds apps at different revisions. Not part of `digest`: a
    # digest stays a function of content, so a node is never resent for a label alone.
    revision: str = ""

    @classmethod
    def build(
        cls,
        version: str,
        namespace: str,
        resources: Sequence[Resource],
        policy: Sequence[Policy] = (),
    ) -> DesiredApp:
        """Make an app entry, computing its content digest."""
        app = cls(version, namespace, tuple(resources), "", tuple(policy))
        return cls(version, namespace, app.resources, app.content_digest(), app.policy)

    def content_digest(self) -> str:
        content: dict[str, Any] = {
            "version": self.version,
            "namespace": self.namespace,
            "resources": list(self.resources),
        }
        if self.policy:
            content["policy"] = policies_to_list(self.policy)
        return digest(content)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "version": self.version,
            "namespace": self.namespace,
            "digest": self.digest,
            "resources": list(self.resources),
        }
        if self.policy:
            out["policy"] = policies_to_list(self.policy)
        if self.revision:
            out["revision"] = self.revision
        return out

    def at_revision(self, revision: str) -> DesiredApp:
        """This entry labelled with the commit its render came from (same digest)."""
        if revision == self.revision:
            return self
        return replace(self, revision=revision)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "", verify: bool = True) -> DesiredApp:
        resources = _get(data, "resources", list, path)
        for i, res in enumerate(resources):
            res = _mapping(res, f"{path}.resources[{i}]")
            for key in ("apiVersion", "kind"):
                _get(res, key, str, f"{path}.resources[{i}]")
            meta = _mapping(_get(res, "metadata", dict, f"{path}.resources[{i}]"), "")
            _get(meta, "name", str, f"{path}.resources[{i}].metadata")
        try:
            policy = (
                policies_from_list(data["policy"], f"{path}.policy") if "policy" in data else ()
            )
        except PolicyError as exc:
            raise DocumentError(exc.path, exc.message) from exc
        app = cls(
            version=str(_opt(data, "version", str, path, "")),
            namespace=_opt(data, "namespace", str, path, ""),
            resources=tuple(cast(list[Resource], resources)),
            digest=_get(data, "digest", str, path),
            policy=policy,
            revision=_opt(data, "revision", str, path, ""),
        )
        if verify and app.content_digest() != app.digest:
            raise DocumentError(f"{path}.digest", "does not match the app's content")
        return app


@dataclass(frozen=True)
class DesiredDocument:
    """What one node should run. Published retained on `<prefix>/nodes/<node>/desired`."""

    node: str
    revision: str
    generation: int
    apps: Mapping[str, DesiredApp]
    digest: str
    signature: str | None = None
    agent: AgentRelease | None = None  # the agent release this node should run (optional)

    @classmethod
    def build(
        cls,
        node: str,
        revision: str,
        generation: int,
        apps: Mapping[str, DesiredApp],
        agent: AgentRelease | None = None,
    ) -> DesiredDocument:
        ordered = {name: apps[name] for name in sorted(apps)}
        return cls(node, revision, generation, ordered, node_digest(ordered, agent), agent=agent)

    def to_dict(self) -> dict[str, Any]:
        out = self.envelope()
        optional: dict[str, Any] = {k: out.pop(k) for k in ("signature", "agent") if k in out}
        out["apps"] = {name: app.to_dict() for name, app in self.apps.items()}
        out.update(optional)  # after the apps, where readers of `shoal render` find them
        return out

    def envelope(self) -> dict[str, Any]:
        """Every field of `to_dict` but `apps` (the publisher encodes shared apps once)."""
        out: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Desired",
            "node": self.node,
            "revision": self.revision,
            "generation": self.generation,
            "digest": self.digest,
        }
        if self.signature is not None:
            out["signature"] = self.signature
        if self.agent is not None:
            out["agent"] = self.agent.to_dict()
        return out

    def to_json(self) -> bytes:
        """The wire payload (canonical JSON)."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], verify: bool = True) -> DesiredDocument:
        """Parse and check a Desired document; with `verify`, digests must match content."""
        _check_header(data, "Desired")
        raw_apps = _mapping(_get(data, "apps", dict, ""), "apps")
        apps = {
            name: DesiredApp.from_dict(_mapping(app, f"apps.{name}"), f"apps.{name}", verify)
            for name, app in raw_apps.items()
        }
        doc = cls(
            node=_get(data, "node", str, ""),
            revision=_get(data, "revision", str, ""),
            generation=_get(data, "generation", int, ""),
            apps=apps,
            digest=_get(data, "digest", str, ""),
            signature=_opt(data, "signature", str, "", None),
            agent=_release(data),
        )
        if verify and node_digest(apps, doc.agent) != doc.digest:
            raise DocumentError("digest", "does not match the document's apps")
        return doc

    @classmethod
    def from_json(cls, payload: bytes | str, verify: bool = True) -> DesiredDocument:
        return cls.from_dict(parse_json(payload), verify)


def node_digest(apps: Mapping[str, DesiredApp], agent: AgentRelease | None = None) -> str:
    """The Desired document's `digest`: over every app's name and digest, and the agent
    release when there is one (a document without one keeps the digest it always had)."""
    over_apps = apps_digest({name: app.digest for name, app in apps.items()})
    if agent is None:
        return over_apps
    return digest({"apps": over_apps, "agent": agent.to_dict()})


def _release(data: Mapping[str, Any]) -> AgentRelease | None:
    raw = data.get("agent")
    if raw is None:
        return None
    try:
        return AgentRelease.from_dict(_mapping(raw, "agent"))
    except ReleaseError as exc:
        raise DocumentError(f"agent.{exc.path}".rstrip("."), str(exc).split(": ", 1)[1]) from exc


# --- Reported ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceStatus:
    kind: str
    namespace: str
    name: str
    ready: bool
    message: str = ""
    drifted: bool = False
    # Why it failed, for machines (`NotOwned`, `PolicyDenied`, `InvalidName`); "" if not.
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "ready": self.ready,
            "message": self.message,
        }
        if self.drifted:
            out["drifted"] = True
        if self.reason:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> ResourceStatus:
        return cls(
            kind=_get(data, "kind", str, path),
            namespace=_opt(data, "namespace", str, path, ""),
            name=_get(data, "name", str, path),
            ready=_get(data, "ready", bool, path),
            message=_opt(data, "message", str, path, ""),
            drifted=_opt(data, "drifted", bool, path, False),
            reason=_opt(data, "reason", str, path, ""),
        )


@dataclass(frozen=True)
class AppStatus:
    state: AppState
    message: str = ""
    resources: tuple[ResourceStatus, ...] = ()
    # Why it failed, for machines (`ApplyFailed`, `AgentError`, ...); "" if not.
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": self.state,
            "message": self.message,
            "resources": [r.to_dict() for r in self.resources],
        }
        if self.reason:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> AppStatus:
        state = _get(data, "state", str, path)
        if state not in APP_STATES:
            raise DocumentError(f"{path}.state", f"must be one of {', '.join(APP_STATES)}")
        raw = _opt(data, "resources", list, path, [])
        return cls(
            state=cast(AppState, state),
            message=_opt(data, "message", str, path, ""),
            resources=tuple(
                ResourceStatus.from_dict(
                    _mapping(r, f"{path}.resources[{i}]"), f"{path}.resources[{i}]"
                )
                for i, r in enumerate(raw)
            ),
            reason=_opt(data, "reason", str, path, ""),
        )


@dataclass(frozen=True)
class NodeInfo:
    hostname: str = ""
    os: str = ""
    arch: str = ""
    kubernetes: str = ""
    agent: str = ""
    # When the node's client certificate expires (ISO 8601, UTC; "" without one): the
    # status branch keeps it, so `shoal status` warns about identities about to expire.
    certificate_not_after: str = ""

    def to_dict(self) -> dict[str, str]:
        data = {
            "hostname": self.hostname,
            "os": self.os,
            "arch": self.arch,
            "kubernetes": self.kubernetes,
            "agent": self.agent,
        }
        if self.certificate_not_after:
            data["certificateNotAfter"] = self.certificate_not_after
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeInfo:
        return cls(
            **{
                k: str(data.get(k) or "") for k in ("hostname", "os", "arch", "kubernetes", "agent")
            },
            certificate_not_after=str(data.get("certificateNotAfter") or ""),
        )


@dataclass(frozen=True)
class Rejection:
    """A Desired document the edge refused, and why (shown in the next report)."""

    reason: str
    generation: int | None = None
    digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "generation": self.generation, "digest": self.digest}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> Rejection:
        gen = data.get("generation")
        return cls(
            reason=_get(data, "reason", str, path),
            generation=gen if isinstance(gen, int) and not isinstance(gen, bool) else None,
            digest=_opt(data, "digest", str, path, ""),
        )


def _encodable(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    return value


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ReportedDocument:
    """What one node observed. Published retained on `<prefix>/nodes/<node>/reported`."""

    node: str
    observed_generation: int | None
    observed_digest: str
    revision: str
    state: NodeState
    apps: Mapping[str, AppStatus] = field(default_factory=dict)
    node_info: NodeInfo = field(default_factory=NodeInfo)
    time: str = field(default_factory=utc_now)
    message: str = ""
    rejected: tuple[Rejection, ...] = ()
    agent_update: AgentUpdate | None = None  # the last agent update that did not complete
    # The node key's signature over the rest (shadow/reportsigning.py); old agents send none.
    signature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Reported",
            "node": self.node,
            "observedGeneration": self.observed_generation,
            "observedDigest": self.observed_digest,
            "revision": self.revision,
            "state": self.state,
            "apps": {name: app.to_dict() for name, app in sorted(self.apps.items())},
            "nodeInfo": self.node_info.to_dict(),
            "time": self.time,
        }
        if self.message:
            out["message"] = self.message
        if self.rejected:
            out["rejected"] = [r.to_dict() for r in self.rejected]
        if self.agent_update is not None:
            out["agentUpdate"] = self.agent_update.to_dict()
        if self.signature is not None:
            out["signature"] = self.signature
        return out

    def to_json(self) -> bytes:
        """Canonical JSON; text UTF-8 cannot hold (a lone surrogate in a message the
        edge passes on) is replaced by `?`, so a report can always be sent."""
        try:
            return canonical_json(self.to_dict())
        except UnicodeEncodeError:
            return canonical_json(_encodable(self.to_dict()))

    def meaningful(self) -> dict[str, Any]:
        """The report without its timestamp, node info and signature: what a status commit
        records.

        Two reports with equal `meaningful()` differ only by heartbeat details.
        """
        data = self.to_dict()
        for key in ("time", "nodeInfo", "signature"):
            data.pop(key, None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportedDocument:
        _check_header(data, "Reported")
        state = _get(data, "state", str, "")
        if state not in NODE_STATES:
            raise DocumentError("state", f"must be one of {', '.join(NODE_STATES)}")
        gen = data.get("observedGeneration")
        if gen is not None and (not isinstance(gen, int) or isinstance(gen, bool)):
            raise DocumentError("observedGeneration", "must be an integer or null")
        raw_apps = _mapping(_opt(data, "apps", dict, "", {}), "apps")
        return cls(
            node=_get(data, "node", str, ""),
            observed_generation=gen,
            observed_digest=_opt(data, "observedDigest", str, "", ""),
            revision=_opt(data, "revision", str, "", ""),
            state=cast(NodeState, state),
            apps={
                name: AppStatus.from_dict(_mapping(app, f"apps.{name}"), f"apps.{name}")
                for name, app in raw_apps.items()
            },
            node_info=NodeInfo.from_dict(
                _mapping(_opt(data, "nodeInfo", dict, "", {}), "nodeInfo")
            ),
            time=_opt(data, "time", str, "", ""),
            message=_opt(data, "message", str, "", ""),
            rejected=tuple(
                Rejection.from_dict(_mapping(r, f"rejected[{i}]"), f"rejected[{i}]")
                for i, r in enumerate(_opt(data, "rejected", list, "", []))
            ),
            agent_update=_update(data),
            signature=_opt(data, "signature", str, "", None),
        )

    @classmethod
    def from_json(
        cls, payload: bytes | str, limits: DecodeLimits = REPORTED_LIMITS
    ) -> ReportedDocument:
        return cls.from_dict(parse_json(payload, limits))


def _update(data: Mapping[str, Any]) -> AgentUpdate | None:
    raw = data.get("agentUpdate")
    if raw is None:
        return None
    try:
        return AgentUpdate.from_dict(_mapping(raw, "agentUpdate"))
    except ReleaseError as exc:
        raise DocumentError(f"agentUpdate.{exc.path}", str(exc).split(": ", 1)[1]) from exc
