"""One app's rollout: its waves, its state, and the decisions the wave's counts lead to.

Pure: `controller.rollout.engine` owns the `Rollout` values, counts each wave from
the Reported states (`WaveCounts`) and calls `step(rollout, counts, now)`, which
moves the state and returns what changed for the documents (`Step`). States:

    Progressing          a wave is open; its nodes update
    Baking               the wave is healthy; the next opens after `bake` seconds
    WaitingForPromotion  the next wave is `manual: true`: `shoal rollout promote`
    Paused               `shoal rollout pause`: nothing opens until `resume`
    Halted               failures crossed the threshold; nothing more opens
    RolledBack           ... and every updated node got the previous render back
    Aborted              `shoal rollout abort`: every updated node got it back
    Complete             every wave opened and the last one healthy

A failure threshold crossed halts (or rolls back) even while paused: pausing never
keeps a failing change out there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.fleet.rollout import RolloutPolicy
from controller.rollout.planning import PlannedWave

ACTIVE = ("Progressing", "Baking", "WaitingForPromotion", "Paused")
FINAL = ("Halted", "RolledBack", "Aborted", "Complete")


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    """`5m`, `90s`, `0.2s`, `1h30m`: how a decision line says a bake time."""
    if seconds < 1:
        return f"{seconds:g}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


@dataclass
class WaveCounts:
    """What the Reported states say of the open wave's nodes."""

    wave: int = 0  # nodes in the wave
    updated: int = 0  # reported the document with the new render
    ready: int = 0  # ... and the app Ready
    failed: int = 0  # ... and the app Failed, or refused the document
    offline: int = 0  # offline (or never reported) and not updated
    failures: list[tuple[str, str]] = field(default_factory=list)  # (node, message), sorted

    def to_dict(self) -> dict[str, int]:
        return {
            "wave": self.wave,
            "updated": self.updated,
            "ready": self.ready,
            "failed": self.failed,
            "offline": self.offline,
        }


@dataclass
class Rollout:
    """One app's rollout of `revision` (from `from_revision`, what the rest keep)."""

    app: str
    version: str
    revision: str
    from_revision: str
    policy: RolloutPolicy
    waves: list[PlannedWave]
    opened: int = 0  # waves whose nodes get the new render (0 .. len(waves))
    state: str = "Progressing"
    since: float = 0.0  # when the state last changed (epoch seconds)
    wave_opened_at: float = 0.0
    baking_since: float | None = None
    reverted: bool = False  # RolledBack or Aborted: every member gets the previous render
    paused: bool = False
    promoted: bool = False  # a promote arrived: skip this wave's bake / the next manual gate
    decision: str = ""
    counts: WaveCounts = field(default_factory=WaveCounts)
    fingerprint: str = ""  # of the app's files and fleet.yaml at `revision` (engine)

    @property
    def current(self) -> int:
        """The 1-based wave shown: the last opened one (1 before any opens)."""
        return max(self.opened, 1)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def members(self) -> set[str]:
        return {n for w in self.waves for n in w.nodes}

    def opened_nodes(self) -> set[str]:
        return {n for w in self.waves[: self.opened] for n in w.nodes}

    def wave_nodes(self) -> tuple[str, ...]:
        """The nodes of the wave being judged (the last opened), () before any opens."""
        return self.waves[self.opened - 1].nodes if self.opened else ()

    def label(self) -> str:
        return f"{self.app} {self.version}"

    def where(self) -> str:
        size = len(self.waves[self.current - 1].nodes) if self.waves else 0
        return f"wave {self.current}/{len(self.waves)} ({size} node{'s' if size != 1 else ''})"

    def set_state(self, state: str, decision: str, now: float) -> None:
        if state != self.state or decision != self.decision:
            self.since = now
        self.state = state
        self.decision = f"{self.label()}: {decision}"

    def status(self) -> dict[str, Any]:
        """The shape `controller.yaml` carries under `rollouts:` (docs/rollouts.md)."""
        return {
            "revision": self.revision,
            "from": self.from_revision,
            "state": self.state,
            "wave": self.current,
            "waves": len(self.waves),
            "counts": self.counts.to_dict(),
            "decision": self.decision,
            "since": iso(self.since),
            "version": self.version,
            "paused": self.paused,
        }


@dataclass(frozen=True)
class Step:
    """What a step changed for the documents: waves opened, or the updated nodes sent back."""

    opened: bool = False
    reverted: bool = False

    @property
    def republish(self) -> bool:
        return self.opened or self.reverted


def open_next(rollout: Rollout, now: float) -> Step:
    """Open the next wave (the first, at the start) or complete."""
    if rollout.opened >= len(rollout.waves):
        total = sum(len(w.nodes) for w in rollout.waves)
        rollout.set_state("Complete", f"complete: {total} nodes in {len(rollout.waves)} waves", now)
        return Step()
    following = rollout.waves[rollout.opened]
    if following.manual and not rollout.promoted:
        rollout.opened = max(rollout.opened, 0)
        nxt = rollout.opened + 1
        rollout.set_state(
            "WaitingForPromotion",
            f"waiting for promotion to wave {nxt}/{len(rollout.waves)} ({len(following.nodes)} nodes)"
            f" (shoal rollout promote {rollout.app})",
            now,
        )
        return Step()
    rollout.promoted = False
    rollout.opened += 1
    rollout.wave_opened_at = now
    rollout.baking_since = None
    rollout.counts = WaveCounts(wave=len(following.nodes))
    rollout.set_state("Progressing", f"{rollout.where()} opened", now)
    return Step(opened=True)


def step(rollout: Rollout, counts: WaveCounts, now: float) -> Step:
    """Judge the open wave by `counts`; move the state; say what the documents need."""
    if not rollout.active:
        return Step()
    rollout.counts = counts
    policy = rollout.policy
    size = counts.wave
    if rollout.opened and counts.failed > policy.failure_threshold.of(size):
        return _fail(rollout, counts, now)
    if rollout.paused:
        rollout.set_state(
            "Paused", f"paused at {rollout.where()} (shoal rollout resume {rollout.app})", now
        )
        return Step()
    if rollout.state == "Paused":
        rollout.state = "Progressing"  # resumed: judged below
    if rollout.opened == 0 or rollout.state == "WaitingForPromotion":
        return open_next(rollout, now)
    waiting = size - counts.ready - counts.failed
    if now - rollout.wave_opened_at >= policy.offline_timeout:
        waiting -= counts.offline  # an offline node stops blocking; it updates when back
    if waiting > policy.max_unavailable.of(size):
        rollout.baking_since = None
        if rollout.state != "Progressing":
            rollout.set_state("Progressing", f"{rollout.where()} opened", now)
        return Step()
    last = rollout.opened >= len(rollout.waves)
    if last or policy.bake <= 0 or rollout.promoted:
        return open_next(rollout, now)
    if rollout.baking_since is None:
        rollout.baking_since = now
    if now - rollout.baking_since >= policy.bake:
        return open_next(rollout, now)
    if rollout.state != "Baking":
        rollout.set_state(
            "Baking", f"{rollout.where()} healthy, baking {duration(policy.bake)}", now
        )
    return Step()


def _fail(rollout: Rollout, counts: WaveCounts, now: float) -> Step:
    shown = ", ".join(f"{node}: {message}" for node, message in counts.failures[:3])
    more = "" if len(counts.failures) <= 3 else f", {len(counts.failures) - 3} more"
    what = f"{counts.failed} of {counts.wave} failed ({shown}{more})"
    if rollout.policy.on_failure == "rollback":
        rollout.reverted = True
        back = len(rollout.opened_nodes())
        rollout.set_state(
            "RolledBack",
            f"rolled back at wave {rollout.current}: {what}; {back} nodes back on "
            f"{rollout.from_revision[:7]}",
            now,
        )
        return Step(reverted=True)
    rollout.set_state("Halted", f"halted at wave {rollout.current}: {what}", now)
    return Step()


def abort(rollout: Rollout, now: float) -> Step:
    """`shoal rollout abort`: every updated node back on the previous render."""
    if not rollout.active:
        return Step()
    rollout.reverted = True
    back = len(rollout.opened_nodes())
    rollout.set_state(
        "Aborted",
        f"aborted at wave {rollout.current} by shoal rollout abort; {back} nodes back on "
        f"{rollout.from_revision[:7]}",
        now,
    )
    return Step(reverted=True)


def deadline(rollout: Rollout) -> float | None:
    """When the rollout next needs a look without a new report (bake or offline timer)."""
    if not rollout.active or rollout.paused:
        return None
    if rollout.baking_since is not None:
        return rollout.baking_since + rollout.policy.bake
    if rollout.opened and rollout.counts.offline:
        return rollout.wave_opened_at + rollout.policy.offline_timeout
    return None
