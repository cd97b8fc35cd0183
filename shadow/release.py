"""Which shoal agent a node should run: the `agent` block of a Desired document.

The fleet repository declares the agent's version (`agent:` in fleet.yaml, overridden by
groups and nodes); the controller puts the node's release into its Desired document, so
the digest (and the signature, once documents are signed) covers it, and the edge agent
updates itself to it (edge/selfupdate/). A release names the wheel to install on a host
(`url`, with its `sha256` from git: a tampered wheel is refused) and, for agents that run
in the node's cluster, the container `image`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
DEFAULT_HEALTH_TIMEOUT = 120  # seconds for a new agent to become healthy before reverting


class ReleaseError(ValueError):
    """An `agent` block that does not describe a release; `path` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"agent.{path}: {message}" if path else f"agent: {message}")
        self.path = path


@dataclass(frozen=True)
class AgentRelease:
    version: str
    url: str = ""  # the wheel, for agents installed on a host
    sha256: str = ""  # of the wheel file, hex
    image: str = ""  # for agents that run in the node's cluster
    health_timeout: int = DEFAULT_HEALTH_TIMEOUT

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "healthTimeoutSeconds": self.health_timeout}
        for key, value in (("url", self.url), ("sha256", self.sha256), ("image", self.image)):
            if value:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentRelease:
        if not isinstance(data, Mapping):
            raise ReleaseError("", "must be an object")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise ReleaseError("version", "must be a non-empty string")
        strings = {}
        for key in ("url", "sha256", "image"):
            value = data.get(key, "")
            if not isinstance(value, str):
                raise ReleaseError(key, "must be a string")
            strings[key] = value
        if strings["sha256"] and not SHA256_HEX.match(strings["sha256"]):
            raise ReleaseError("sha256", "must be 64 lowercase hex digits")
        if strings["url"] and not strings["sha256"]:
            raise ReleaseError("sha256", "is required with url: the wheel is checked against it")
        timeout = data.get("healthTimeoutSeconds", DEFAULT_HEALTH_TIMEOUT)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            raise ReleaseError("healthTimeoutSeconds", "must be a positive integer")
        return cls(version, strings["url"], strings["sha256"], strings["image"], timeout)


UPDATE_STATES = ("installing", "trial", "failed", "reverted")


@dataclass(frozen=True)
class AgentUpdate:
    """How the node's last agent update went, in its Reported document (`agentUpdate`).

    `installing`: the new version is being downloaded and installed; `trial`: it runs and
    has until its health deadline; `failed`: it could not be installed (bad wheel, wrong
    sha256, no such version) and the running agent stays; `reverted`: it ran but never
    became healthy, and the node went back to the previous version. A successful update
    leaves no record: `nodeInfo.agent` then shows the new version.
    """

    version: str
    state: str
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"version": self.version, "state": self.state}
        if self.reason:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentUpdate:
        version, state, reason = data.get("version"), data.get("state"), data.get("reason", "")
        if not isinstance(version, str) or not version:
            raise ReleaseError("version", "must be a non-empty string")
        if state not in UPDATE_STATES:
            raise ReleaseError("state", f"must be one of {', '.join(UPDATE_STATES)}")
        if not isinstance(reason, str):
            raise ReleaseError("reason", "must be a string")
        return cls(version, state, reason)
