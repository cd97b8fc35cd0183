"""Waves from a rollout policy and the nodes an app's change touches: pure, no I/O.

Called by `controller.rollout.engine` when a rollout starts. Each wave takes, from the
nodes no earlier wave took, those its selector matches, or a share of them: the
remaining nodes are ordered by a stable hash of their names (SHA-256, so the same nodes
go first every time, on every machine and release) and the first ceil(share * n) go.
Nodes no wave takes form one last wave, so a policy can never strand a node. Empty
waves are dropped.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from controller.fleet.rollout import RolloutPolicy, WaveSpec


def rank(node: str) -> str:
    """A node's place in share waves: the hex SHA-256 of its name."""
    return hashlib.sha256(node.encode()).hexdigest()


@dataclass(frozen=True)
class PlannedWave:
    nodes: tuple[str, ...]  # sorted by rank
    manual: bool = False
    what: str = ""  # the policy's wording: `ring=canary`, `50%`, `rest`


def plan_waves(policy: RolloutPolicy, nodes: Mapping[str, Mapping[str, str]]) -> list[PlannedWave]:
    """The waves for `nodes` (name -> tags), in order; every node in exactly one."""
    remaining = sorted(nodes, key=rank)
    waves: list[PlannedWave] = []
    for spec in policy.waves:
        taken = _take(spec, remaining, nodes)
        if taken:
            chosen = set(taken)
            remaining = [n for n in remaining if n not in chosen]
            waves.append(PlannedWave(tuple(taken), spec.manual, spec.text()))
    if remaining:
        waves.append(PlannedWave(tuple(remaining), False, "rest"))
    return waves


def _take(spec: WaveSpec, remaining: list[str], tags: Mapping[str, Mapping[str, str]]) -> list[str]:
    if spec.selector is not None:
        return [n for n in remaining if spec.selector.matches(dict(tags[n]))]
    share = spec.share if spec.share is not None else 100.0
    count = math.ceil(len(remaining) * share / 100 - 1e-9)
    return remaining[:count]
