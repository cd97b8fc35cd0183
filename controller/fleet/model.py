"""The fleet as loaded from its repository: `Fleet`, `Node`, `Group`, `App`.

Built by `loading.load_fleet` after every file validated; read by variables,
rendering and the commands. Frozen: a revision of the repository is one value.
Files are repo-relative paths (`nodes/paris-gw-01.yaml`) so messages stay short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.fleet.rollout import RolloutPolicy
from controller.fleet.selectors import Selector
from shadow.policy import Policy

DEFAULT_TOPIC_PREFIX = "shoal"
DEFAULT_KUBERNETES_VERSION = "1.33"
TEMPLATE_SUFFIX = ".j2"  # only apps/<app>/templates/*.j2 are rendered


@dataclass(frozen=True)
class Node:
    name: str
    tags: dict[str, str]
    vars: dict[str, Any]
    file: str
    revoked: bool = False  # locked out of the broker (controller.identity.revocation)
    agent: dict[str, Any] | None = None  # `agent:` (a release), see controller/fleet/agent.py
    recipient: str = ""  # the age recipient secrets are sealed to (shadow/sealing.py)
    # `reportKey:`, the key its reports are signed with (shadow/reportsigning.py; "": none)
    report_key: str = ""


@dataclass(frozen=True)
class Group:
    name: str
    selector: Selector
    priority: int
    vars: dict[str, Any]
    file: str
    agent: dict[str, Any] | None = None


@dataclass(frozen=True)
class App:
    name: str
    version: str
    namespace: str
    selector: Selector
    vars: dict[str, Any]
    dir: Path  # absolute path of apps/<name>
    file: str  # "apps/<name>/app.yaml"
    templates: tuple[str, ...] = ()  # repo-relative template paths, in render order
    # What the app may touch: fleet.yaml's policy, then app.yaml's (shadow/policy.py
    # `effective`); () is shoal's default policy.
    policy: tuple[Policy, ...] = ()
    # How a change reaches its nodes: app.yaml's `rollout:`, else fleet.yaml's; None:
    # every node at once (controller/fleet/rollout.py, docs/rollouts.md).
    rollout: RolloutPolicy | None = None


@dataclass(frozen=True)
class SealedSecret:
    """`secrets/<name>.yaml`: one value sealed to each node its selector matched."""

    name: str
    selector: Selector
    sealed: dict[str, tuple[str, str]]  # node -> (recipient, base64 of the age ciphertext)
    file: str


@dataclass(frozen=True)
class Fleet:
    root: Path
    name: str
    topic_prefix: str
    vars: dict[str, Any]
    nodes: dict[str, Node]
    groups: dict[str, Group]
    apps: dict[str, App]
    file: str = field(default="fleet.yaml")
    # `render:` of fleet.yaml (timeLimit seconds, memoryLimit MiB per app render).
    render_limits: dict[str, Any] = field(default_factory=dict)
    # `kubernetesVersion:` of fleet.yaml: the API whose schemas rendered objects must fit.
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    agent: dict[str, Any] | None = None
    policy: Policy | None = None  # fleet.yaml's `policy` (None: shoal's default)
    secrets: dict[str, SealedSecret] = field(default_factory=dict)  # secrets/<name>.yaml
    rollout: RolloutPolicy | None = None  # fleet.yaml's `rollout:`, the apps' default
    # `reports: {requireSignature: true}`: refuse reports from nodes without a reportKey.
    require_signed_reports: bool = False

    def groups_for(self, node: Node) -> list[Group]:
        """Groups whose selector matches `node`, in precedence order (priority, then name)."""
        matched = [g for g in self.groups.values() if g.selector.matches(node.tags)]
        return sorted(matched, key=lambda g: (g.priority, g.name))

    def apps_for(self, node: Node) -> list[App]:
        """Apps whose selector matches `node`, by name."""
        return [self.apps[a] for a in sorted(self.apps) if self.apps[a].selector.matches(node.tags)]
