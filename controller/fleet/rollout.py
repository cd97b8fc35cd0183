"""The `rollout:` policy of fleet.yaml (the default) and app.yaml (per app), as values.

`controller.fleet.loading` builds a `RolloutPolicy` from a file's `rollout:` mapping
(schema-checked already: schemas/fleet.schema.json and app.schema.json) and keeps
the effective one on each `App` (the app's own, else the fleet's, else None: the app
goes to every node at once, as always). The rollout engine (`controller.rollout`)
plans waves from it and applies its thresholds; docs/rollouts.md is the reference.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from controller.fleet.selectors import Selector, SelectorError, parse_selector
from shadow.errors import BadInput

SHARE = re.compile(r"^(\d+(?:\.\d+)?)%$")
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

DEFAULT_OFFLINE_TIMEOUT = 600.0  # seconds an offline node may block its wave


class RolloutPolicyError(BadInput, ValueError):
    """A value of `rollout:` the schema cannot judge (a selector that does not parse)."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Amount:
    """A count of nodes written as a number (`2`) or a share of a wave (`"20%"`)."""

    value: float
    percent: bool = False

    def of(self, size: int) -> int:
        """How many nodes of a wave of `size` this allows (a share rounds down)."""
        if not self.percent:
            return int(self.value)
        return math.floor(size * self.value / 100 + 1e-9)

    def text(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{int(self.value)}"


@dataclass(frozen=True)
class WaveSpec:
    """One wave: the nodes a selector matches, or a share of the nodes still waiting."""

    selector: Selector | None = None
    share: float | None = None  # percent of the remaining nodes, 0 < share <= 100
    manual: bool = False  # wait for `shoal rollout promote` before this wave opens

    def text(self) -> str:
        what = self.selector.text if self.selector is not None else f"{self.share:g}%"
        return f"{what} (manual)" if self.manual else what


@dataclass(frozen=True)
class RolloutPolicy:
    waves: tuple[WaveSpec, ...]
    max_unavailable: Amount = Amount(0)
    bake: float = 0.0  # seconds a healthy wave waits before the next opens
    failure_threshold: Amount = Amount(0)  # failed nodes a wave tolerates
    on_failure: str = "halt"  # or "rollback"
    offline_timeout: float = DEFAULT_OFFLINE_TIMEOUT
    file: str = ""  # where it was written (fleet.yaml or apps/<app>/app.yaml)


def seconds(value: Any) -> float:
    """`300`, `"30s"`, `"5m"`, `"0.2s"`, `"250ms"`, `"1h"` in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    found = DURATION.match(str(value).strip())
    if found is None:
        raise ValueError(f"not a duration: {value!r} (write 300, '30s', '5m' or '1h')")
    return float(found.group(1)) * UNITS[found.group(2)]


def amount(value: Any) -> Amount:
    if isinstance(value, int) and not isinstance(value, bool):
        return Amount(float(value))
    found = SHARE.match(str(value).strip())
    if found is None:
        raise ValueError(f"not a count or a share: {value!r} (write 2 or '20%')")
    return Amount(float(found.group(1)), percent=True)


def _wave(raw: Any, where: str) -> WaveSpec:
    if isinstance(raw, str):
        raw = {"share": raw} if SHARE.match(raw.strip()) else {"selector": raw}
    manual = bool(raw.get("manual", False))
    if "share" in raw:
        share = float(SHARE.match(str(raw["share"]).strip()).group(1))  # type: ignore[union-attr]
        if not 0 < share <= 100:
            raise RolloutPolicyError(
                f"{where}.share", f"{share:g}% must be above 0 and at most 100%"
            )
        return WaveSpec(share=share, manual=manual)
    try:
        selector = parse_selector(str(raw["selector"]))
    except SelectorError as exc:
        raise RolloutPolicyError(f"{where}.selector", str(exc)) from exc
    return WaveSpec(selector=selector, manual=manual)


def parse_policy(data: dict[str, Any], file: str) -> RolloutPolicy:
    """The policy of a `rollout:` mapping the schema accepted; RolloutPolicyError else."""
    waves = tuple(_wave(w, f"rollout.waves[{i}]") for i, w in enumerate(data.get("waves") or []))
    try:
        return RolloutPolicy(
            waves=waves or (WaveSpec(share=100.0),),
            max_unavailable=amount(data.get("maxUnavailable", 0)),
            bake=seconds(data.get("bake", 0)),
            failure_threshold=amount(data.get("failureThreshold", 0)),
            on_failure=str(data.get("onFailure", "halt")),
            offline_timeout=seconds(data.get("offlineTimeout", DEFAULT_OFFLINE_TIMEOUT)),
            file=file,
        )
    except ValueError as exc:
        raise RolloutPolicyError("rollout", str(exc)) from exc
