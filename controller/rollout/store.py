"""The rollout engine's state in the controller's work dir, next to the ledger.

`rollouts.json` holds every app's rollout (revision, from, waves and their nodes, the
opened count, state, timers, pause), the commit each member's previous render came
from, the operator requests already honoured, and the last finished rollouts. The
engine saves it on every state change, before publishing what the change causes,
via `transport.atomicfile` (a crash leaves the old or the new file), so a restarted
controller resumes at the same wave; the previous renders themselves are rendered
again from git at the start.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from controller.fleet.rollout import RolloutPolicy, WaveSpec, parse_policy
from controller.rollout.machine import Rollout, WaveCounts
from controller.rollout.planning import PlannedWave
from transport.atomicfile import replace_atomically

log = logging.getLogger(__name__)

VERSION = 1

Loaded = tuple[
    dict[str, Rollout], dict[str, dict[str, str]], dict[str, str], dict[str, dict[str, Any]], str
]


def _policy_dict(policy: RolloutPolicy) -> dict[str, Any]:
    def wave(spec: WaveSpec) -> dict[str, Any]:
        out: dict[str, Any] = {"manual": spec.manual}
        if spec.selector is not None:
            out["selector"] = spec.selector.text
        else:
            out["share"] = f"{spec.share:g}%"
        return out

    return {
        "waves": [wave(w) for w in policy.waves],
        "maxUnavailable": policy.max_unavailable.text(),
        "bake": policy.bake,
        "failureThreshold": policy.failure_threshold.text(),
        "onFailure": policy.on_failure,
        "offlineTimeout": policy.offline_timeout,
    }


def _amount(text: str) -> Any:
    return text if text.endswith("%") else int(text)


def _rollout_dict(rollout: Rollout) -> dict[str, Any]:
    return {
        "app": rollout.app,
        "version": rollout.version,
        "revision": rollout.revision,
        "from": rollout.from_revision,
        "policy": _policy_dict(rollout.policy),
        "policyFile": rollout.policy.file,
        "waves": [
            {"nodes": list(w.nodes), "manual": w.manual, "what": w.what} for w in rollout.waves
        ],
        "opened": rollout.opened,
        "state": rollout.state,
        "since": rollout.since,
        "waveOpenedAt": rollout.wave_opened_at,
        "bakingSince": rollout.baking_since,
        "reverted": rollout.reverted,
        "paused": rollout.paused,
        "promoted": rollout.promoted,
        "decision": rollout.decision,
        "counts": rollout.counts.to_dict(),
        "fingerprint": rollout.fingerprint,
    }


def _rollout(data: dict[str, Any]) -> Rollout:
    raw = dict(data["policy"])
    raw["maxUnavailable"] = _amount(raw["maxUnavailable"])
    raw["failureThreshold"] = _amount(raw["failureThreshold"])
    policy = parse_policy(raw, data.get("policyFile", ""))
    waves = [
        PlannedWave(tuple(w["nodes"]), bool(w["manual"]), w.get("what", "")) for w in data["waves"]
    ]
    rollout = Rollout(
        data["app"],
        data["version"],
        data["revision"],
        data["from"],
        policy,
        waves,
        opened=int(data["opened"]),
        state=data["state"],
        since=float(data["since"]),
        wave_opened_at=float(data["waveOpenedAt"]),
        baking_since=data.get("bakingSince"),
        reverted=bool(data["reverted"]),
        paused=bool(data["paused"]),
        promoted=bool(data.get("promoted", False)),
        decision=data["decision"],
    )
    rollout.counts = WaveCounts(**data.get("counts", {}))
    rollout.fingerprint = str(data.get("fingerprint", ""))
    return rollout


class RolloutStore:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> Loaded | None:
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            rollouts = {name: _rollout(r) for name, r in data["rollouts"].items()}
            previous = {
                name: {node: sha for sha, nodes in by_sha.items() for node in nodes}
                for name, by_sha in data.get("previousRevisions", {}).items()
            }
            return (
                rollouts,
                previous,
                dict(data.get("handled", {})),
                dict(data.get("last", {})),
                str(data.get("revision", "")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("cannot read %s (%s): rollouts start afresh", self.path, exc)
            return None

    def save(
        self,
        rollouts: dict[str, Rollout],
        previous: dict[str, dict[str, str]],
        handled: dict[str, str],
        last: dict[str, dict[str, Any]],
        revision: str,
    ) -> None:
        if self.path is None:
            return
        by_sha: dict[str, dict[str, list[str]]] = {}
        for name, nodes in previous.items():
            table = by_sha.setdefault(name, {})
            for node, sha in sorted(nodes.items()):
                table.setdefault(sha, []).append(node)
        data = {
            "version": VERSION,
            "revision": revision,
            "rollouts": {name: _rollout_dict(r) for name, r in rollouts.items()},
            "previousRevisions": by_sha,
            "handled": handled,
            "last": last,
        }
        replace_atomically(self.path, json.dumps(data, separators=(",", ":")).encode())
