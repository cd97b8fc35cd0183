"""`shoal init DIR`: start a fleet repository from the template in `controller/commands/fleet-template/`.

Copies the template (example nodes, groups and apps, a CI workflow, a pre-commit
config, a README for the fleet's users) into DIR, makes it a git repository on branch
`main` and commits it, so `shoal validate` and `shoal diff main` work at once.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

EXIT_OK, EXIT_INVALID, EXIT_UNAVAILABLE = 0, 1, 2

# Used only when git knows no identity at all (a fresh machine or CI container), so the
# first commit can be made; the next steps tell the user how to set their own.
FALLBACK_NAME = "shoal init"
FALLBACK_EMAIL = "shoal@localhost"


class InitError(Exception):
    """DIR cannot be made into a fleet repository; the message says why."""


def template_dir() -> Path:
    """The fleet template, shipped inside the package (a wheel carries it as package data)."""
    return Path(__file__).resolve().parent / "fleet-template"


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "init",
        help="create a fleet repository from the example template",
        description="Copy the example fleet (two sites, two hardware models, three apps, a "
        "CI workflow and a pre-commit config) into DIR, run `git init` and commit it.",
    )
    parser.add_argument("dir", metavar="DIR", help="directory to create (must be empty or absent)")
    return parser


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    try:
        _check_target(target)
        template = template_dir()
        if not (template / "fleet.yaml").is_file():
            print(
                f"error: the fleet template is missing: expected {template} "
                "(the shoal installation is incomplete: reinstall it)",
                file=sys.stderr,
            )
            return EXIT_UNAVAILABLE
        _copy(template, target)
        fallback_identity = _commit(target)
    except InitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except GitFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(_next_steps(target, fallback_identity))
    return EXIT_OK


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise InitError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise InitError(
            f"{target} is not empty: shoal init only creates a new fleet repository "
            "(choose a new or empty directory)"
        )


def _copy(template: Path, target: Path) -> None:
    shutil.copytree(
        template,
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"),
    )


class GitFailed(Exception):
    """A git command failed (git missing, or an error it printed)."""


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise GitFailed("git is not installed: install git and run shoal init again") from exc
    if check and done.returncode != 0:
        raise GitFailed(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done


def _commit(target: Path) -> bool:
    """git init + first commit. True when a fallback identity had to be configured."""
    _git(target, "init", "--quiet", "-b", "main")
    fallback = False
    for key, value in (("user.name", FALLBACK_NAME), ("user.email", FALLBACK_EMAIL)):
        if not _git(target, "config", key, check=False).stdout.strip():
            _git(target, "config", "--local", key, value)
            fallback = True
    _git(target, "add", "--all")
    _git(target, "commit", "--quiet", "-m", "Start the fleet from the shoal template")
    return fallback


def _next_steps(target: Path, fallback_identity: bool) -> str:
    lines = [
        f"Created a fleet repository in {target} (branch main, 1 commit).",
        "",
        "Next steps:",
        f"  cd {target}",
        "  shoal validate                       # everything loads and every node renders",
        "  shoal explain --node paris-gw-01     # where each of a node's values comes from",
        "  $EDITOR groups/site-paris.yaml       # change a variable, e.g. ntp_server",
        "  shoal diff main                      # exactly the Paris nodes change",
        "  git remote add origin <url> && git push -u origin main",
        "",
        "README.md explains the layout; .github/workflows/shoal.yml posts `shoal diff` on "
        "pull requests.",
    ]
    if fallback_identity:
        lines += [
            "",
            f"git had no committer identity, so this repository uses {FALLBACK_NAME!r} "
            f"<{FALLBACK_EMAIL}>; set yours with `git config user.name ...` and "
            "`git config user.email ...`.",
        ]
    return "\n".join(lines)
