"""The operator's decisions on a rollout: `rollouts/<app>.yaml` in the fleet repository.

`shoal rollout pause|resume|promote|abort APP` (controller/commands/rollout.py) writes
the file and commits it, so every decision is a reviewed, auditable commit; the
controller reads the files of each revision (`read_controls`) and the engine honours
them. The file only steers a rollout: it renders nothing, so a commit touching only
`rollouts/` never starts a rollout. Its fields:

    app: web
    paused: true                       # pause / resume: nothing opens while true
    promote: {id: ..., revision: <sha>, wave: 2}   # skip wave 2's bake or the next gate
    abort: {id: ..., revision: <sha>}  # every updated node back on the previous render

`promote` and `abort` are requests: each `id` (the time the command ran) is honoured
once, and only by the rollout of `revision` (at `wave`, for promote), so an old
request never touches a later rollout. A file that does not read is logged and ignored.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shadow.errors import BadInput

log = logging.getLogger(__name__)

FOLDER = "rollouts"


@dataclass(frozen=True)
class Request:
    id: str
    revision: str = ""  # "" or a prefix of the rollout's commit
    wave: int | None = None

    def applies(self, revision: str, wave: int) -> bool:
        if self.revision and not revision.startswith(self.revision):
            return False
        return self.wave is None or self.wave == wave

    def describe(self) -> str:
        where = f" at wave {self.wave}" if self.wave is not None else ""
        return f"of {self.revision[:12] or 'any revision'}{where} ({self.id})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "revision": self.revision}
        if self.wave is not None:
            out["wave"] = self.wave
        return out


@dataclass(frozen=True)
class Control:
    app: str
    paused: bool = False
    promote: Request | None = None
    abort: Request | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"app": self.app, "paused": self.paused}
        for key in ("promote", "abort"):
            request = getattr(self, key)
            if request is not None:
                out[key] = request.to_dict()
        return out


class ControlError(BadInput, ValueError):
    """A `rollouts/<app>.yaml` that does not read (the controller logs and ignores it)."""


def _request(raw: Any, where: str) -> Request | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
        raise ControlError(f"{where}: must be a mapping with an id (written by shoal rollout)")
    wave = raw.get("wave")
    if wave is not None and (not isinstance(wave, int) or isinstance(wave, bool)):
        raise ControlError(f"{where}.wave: must be a wave number")
    return Request(raw["id"], str(raw.get("revision") or ""), wave)


def parse_control(text: str, app: str) -> Control:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, Mapping):
        raise ControlError("expected a mapping (app, paused, promote, abort)")
    unknown = sorted(set(data) - {"app", "paused", "promote", "abort"})
    if unknown:
        raise ControlError(f"unknown key {unknown[0]!r} (app, paused, promote, abort)")
    if data.get("app", app) != app:
        raise ControlError(f"app: {data.get('app')!r} must equal the file's name {app!r}")
    paused = data.get("paused", False)
    if not isinstance(paused, bool):
        raise ControlError("paused: must be true or false")
    return Control(
        app, paused, _request(data.get("promote"), "promote"), _request(data.get("abort"), "abort")
    )


def read_control(root: Path, app: str) -> Control:
    """`rollouts/<app>.yaml` at `root` (a Control with nothing set when absent)."""
    path = root / FOLDER / f"{app}.yaml"
    if not path.is_file():
        return Control(app)
    return parse_control(path.read_text(encoding="utf-8"), app)


def read_controls(root: Path, apps: Mapping[str, Any]) -> dict[str, Control]:
    controls: dict[str, Control] = {}
    for app in apps:
        try:
            controls[app] = read_control(root, app)
        except (ControlError, yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            log.error("%s/%s.yaml is ignored: %s", FOLDER, app, str(exc).splitlines()[0])
    return controls


def control_problems(root: Path, apps: Mapping[str, Any]) -> list[tuple[str, str, int | None]]:
    """What `shoal validate` says of `rollouts/`: (file, message, line) for each file that does
    not read or names no app of the fleet. The controller logs and ignores such a file,
    so a pull request is the place to catch it."""
    folder = root / FOLDER
    if not folder.is_dir():
        return []
    problems: list[tuple[str, str, int | None]] = []
    for path in sorted(folder.iterdir()):
        file = f"{FOLDER}/{path.name}"
        if path.name.startswith(".") or path.suffix not in (".yaml", ".yml"):
            continue
        app = path.stem
        if app not in apps:
            close = difflib.get_close_matches(app, sorted(apps), n=3)
            hint = f" (did you mean: {', '.join(close)}?)" if close else ""
            problems.append((file, f"steers no app: there is no app named {app!r}{hint}", None))
            continue
        try:
            parse_control(path.read_text(encoding="utf-8"), app)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            problems.append(
                (file, f"YAML syntax: {exc.problem or exc}", mark.line + 1 if mark else None)
            )
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append((file, f"does not read: {str(exc).splitlines()[0]}", None))
        except (ControlError, OSError) as exc:
            problems.append((file, str(exc), None))
    return problems


def control_text(control: Control) -> str:
    header = (
        f"# Operator decisions on the rollout of app {control.app}, written by `shoal rollout`\n"
        "# (docs/rollouts.md). Each change is a commit the controller honours.\n"
    )
    return header + yaml.safe_dump(control.to_dict(), sort_keys=False)
