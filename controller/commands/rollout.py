"""`shoal rollout`: steer an app's progressive rollout by commit, and see where it is.

    shoal rollout status [APP] [--format json]   read controller.yaml on the status branch
    shoal rollout pause APP                      nothing more opens (commit + push)
    shoal rollout resume APP
    shoal rollout promote APP                    open the next wave now (bake, manual gate)
    shoal rollout abort APP                      every updated node back on the previous render

The four actions write `rollouts/<app>.yaml` in the fleet repository (a clone, `--repo`,
default `.`), commit it ("rollout: pause web") and push it to the branch's upstream, so
every decision is a commit anyone can review and revert; the controller honours it
(`controller.rollout.control`). `promote` and `abort` name the rollout they mean (its
revision and wave, from the status branch when it says), so a late request never
touches a later rollout. `status` reads git only, from any clone. docs/rollouts.md.
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from controller.commands.reporting import unknown_name
from controller.gitcli import GitFailed, git, git_text
from shadow.errors import BadInput, ExitCode

log = logging.getLogger(__name__)

ACTIONS = ("pause", "resume", "promote", "abort")
STATUS_FILE = "controller.yaml"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "rollout",
        help="see or steer an app's rollout (pause, resume, promote, abort: commits)",
        description="See where each app's rollout is (status, from the status branch), or "
        "steer one: pause, resume, promote (open the next wave now, skipping the bake or a "
        "manual gate) and abort (every updated node back on the previous render). Each "
        "action commits rollouts/<app>.yaml to the fleet repository and pushes it; the "
        "controller honours it. See docs/rollouts.md.",
    )
    parser.add_argument("action", choices=("status", *ACTIONS), help="what to do")
    parser.add_argument("app", nargs="?", help="the app (optional for status)")
    parser.add_argument(
        "--repo", type=Path, default=Path("."), help="fleet repository clone (default: .)"
    )
    parser.add_argument("--branch", default="shoal-status", help="status branch (for status)")
    parser.add_argument("--remote", default="origin", help="remote to push to and read from")
    parser.add_argument(
        "--no-push", action="store_true", help="commit only; push yourself (or open a PR)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def _rollouts(repo: Path, branch: str, remote: str) -> dict[str, dict[str, Any]] | None:
    """`rollouts:` of controller.yaml on the status branch; None when there is none."""
    from controller.status.reading import resolve_status_ref

    try:
        _ref, commit = resolve_status_ref(repo, branch, remote)
        text = git("show", f"{commit}:{STATUS_FILE}", cwd=repo).decode()
    except GitFailed:
        return None
    data = yaml.safe_load(text) or {}
    rollouts = data.get("rollouts") if isinstance(data, dict) else None
    return rollouts if isinstance(rollouts, dict) else {}


def _known_apps(repo: Path) -> list[str]:
    apps = repo / "apps"
    return (
        sorted(p.name for p in apps.iterdir() if (p / "app.yaml").is_file())
        if apps.is_dir()
        else []
    )


def run(args: argparse.Namespace) -> ExitCode:
    if args.action == "status":
        return _status(args)
    if not args.app:
        raise BadInput(f"shoal rollout {args.action} needs an APP")
    known = _known_apps(args.repo)
    if args.app not in known:
        raise BadInput(f"{args.repo}: {unknown_name('app', args.app, known)}")
    return _act(args)


def _status(args: argparse.Namespace) -> ExitCode:
    rollouts = _rollouts(args.repo, args.branch, args.remote)
    if rollouts is None:
        raise GitFailed(
            f"no {STATUS_FILE} on the status branch {args.branch!r} of {args.repo}: run "
            f"`git fetch {args.remote} {args.branch}`, or wait for the controller to write it"
        )
    if args.app:
        if args.app not in rollouts:
            known = sorted(rollouts)
            raise BadInput(
                f"no rollout of app {args.app!r} is recorded (rollouts: {', '.join(known) or 'none'})"
            )
        rollouts = {args.app: rollouts[args.app]}
    if args.format == "json":
        print(json.dumps({"rollouts": rollouts}, indent=2, sort_keys=True))
        return ExitCode.OK
    if not rollouts:
        print("no rollouts recorded")
    for app, r in sorted(rollouts.items()):
        counts = r.get("counts") or {}
        print(
            f"{app:<16} {r.get('state', '?'):<20} wave {r.get('wave')}/{r.get('waves')}  "
            f"{str(r.get('revision', ''))[:7]} (from {str(r.get('from', ''))[:7]})  "
            f"since {r.get('since', '')}"
        )
        print(
            f"  {counts.get('updated', 0)}/{counts.get('wave', 0)} updated, "
            f"{counts.get('ready', 0)} ready, {counts.get('failed', 0)} failed, "
            f"{counts.get('offline', 0)} offline"
        )
        print(f"  {r.get('decision', '')}")
    return ExitCode.OK


def _act(args: argparse.Namespace) -> ExitCode:
    from controller.rollout.control import FOLDER, Control, Request, control_text, read_control

    path = args.repo / FOLDER / f"{args.app}.yaml"
    try:
        control = read_control(args.repo, args.app)
    except ValueError as exc:
        raise BadInput(f"{path}: {exc}") from exc
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rollout = (_rollouts(args.repo, args.branch, args.remote) or {}).get(args.app, {})
    revision, wave = str(rollout.get("revision") or ""), rollout.get("wave")
    if args.action in ("pause", "resume"):
        control = Control(args.app, args.action == "pause", control.promote, control.abort)
    elif args.action == "promote":
        request = Request(now, revision, wave if isinstance(wave, int) else None)
        control = Control(args.app, control.paused, request, control.abort)
    else:
        control = Control(args.app, control.paused, control.promote, Request(now, revision))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(control_text(control), encoding="utf-8")
    what = f"rollout: {args.action} {args.app}"
    if revision:
        what += f" ({revision[:7]}" + (f", wave {wave})" if args.action == "promote" else ")")
    rel = str(path.relative_to(args.repo))
    git("add", "--", rel, cwd=args.repo)
    if not git_text("diff", "--cached", "--name-only", "--", rel, cwd=args.repo):
        print(f"{args.app}: already {args.action}d: nothing to commit")
        return ExitCode.OK
    git("commit", "-q", "-m", what, "--", rel, cwd=args.repo)
    sha = git_text("rev-parse", "--short", "HEAD", cwd=args.repo)
    print(f"committed {sha} {what}")
    if not args.no_push:
        branch = git_text("rev-parse", "--abbrev-ref", "HEAD", cwd=args.repo)
        git("push", "-q", args.remote, f"HEAD:{branch}", cwd=args.repo)
        print(f"pushed to {args.remote} {branch}: the controller honours it on its next fetch")
    return ExitCode.OK
