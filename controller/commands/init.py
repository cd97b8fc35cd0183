"""`shoal init DIR`: start a fleet repository from the template in `controller/commands/fleet-template/`.

Copies the template (example nodes, groups and apps, a CI workflow, a pre-commit
config, a README for the fleet's users) into DIR, makes it a git repository on branch
`main` and commits it, so `shoal validate` and `shoal diff main` work at once.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from controller.gitcli import GitFailed, git
from shadow.errors import BadInput, ExitCode, Unavailable

# Used only when git knows no identity at all (a fresh machine or CI container), so the
# first commit can be made; the next steps tell the user how to set their own.
FALLBACK_NAME = "shoal init"
FALLBACK_EMAIL = "shoal@localhost"


class InitError(BadInput):
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


def run(args: argparse.Namespace) -> ExitCode:
    """InitError (exit 1) when DIR is not empty; Unavailable (exit 2) when it cannot be
    written or git fails (GitFailed)."""
    target = Path(args.dir)
    _check_target(target)
    template = template_dir()
    if not (template / "fleet.yaml").is_file():
        print(
            f"error: the fleet template is missing: expected {template} "
            "(the shoal installation is incomplete: reinstall it)",
            file=sys.stderr,
        )
        return ExitCode.UNAVAILABLE
    _copy(template, target)
    fallback_identity = commit_template(target, FALLBACK_NAME, FALLBACK_EMAIL)
    print(_next_steps(target, fallback_identity))
    return ExitCode.OK


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise InitError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise InitError(
            f"{target} is not empty: shoal init only creates a new fleet repository "
            "(choose a new or empty directory)"
        )


def _copy(template: Path, target: Path) -> None:
    try:
        shutil.copytree(
            template,
            target,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"),
        )
    except OSError as exc:  # shutil.Error too: a permission, a full disk
        raise Unavailable(f"cannot write the fleet repository into {target}: {exc}") from exc


def commit_template(target: Path, name: str, email: str) -> bool:
    """git init + first commit on `main` (also used by `shoal demo`). True when git knew
    no identity and `name <email>` had to be configured for the repository."""
    git("init", "--quiet", "-b", "main", cwd=target)
    fallback = False
    for key, value in (("user.name", name), ("user.email", email)):
        try:
            known = git("config", key, cwd=target).strip()
        except GitFailed:  # `git config KEY` exits 1 when the key is not set
            known = b""
        if not known:
            git("config", "--local", key, value, cwd=target)
            fallback = True
    git("add", "--all", cwd=target)
    git("commit", "--quiet", "-m", "Start the fleet from the shoal template", cwd=target)
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
