"""The git command line, as the controller side runs it.

Every room of `controller/` that touches git (the controller's source, the status
branch, checkouts for review, `shoal init` and the demo) goes through this module, so
git's failures become one kind of error with git's own message.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit


def local_path(url: str) -> Path | None:
    """The folder a repository URL points to on this machine, or None for a remote."""
    if url.startswith("file://"):
        return Path(urlsplit(url).path)
    if "://" in url or (":" in url.split("/", 1)[0] and not Path(url).exists()):
        return None  # https://, ssh://, git://, or scp-like user@host:path
    return Path(url).expanduser().resolve()


def git_dir(path: Path) -> Path:
    """The git dir of a local working copy (`.git`) or of a bare repository (itself)."""
    dot_git = path / ".git"
    if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
        text = dot_git.read_text().strip()
        if text.startswith("gitdir:"):
            return (path / text.split(":", 1)[1].strip()).resolve()
    return dot_git if dot_git.is_dir() else path


class GitFailed(RuntimeError):
    """git could not do what was asked; the message carries git's own words."""


def git(
    *args: str, cwd: Path | None = None, repo_dir: Path | None = None, input: bytes | None = None
) -> bytes:
    """git's stdout for `git args` in `cwd`, or on the git dir `repo_dir` (`--git-dir`).
    Raises `GitFailed` naming the subcommand (never the other arguments: a URL may
    hold a password) with git's message on one line."""
    command = ["git", *(("--git-dir", str(repo_dir)) if repo_dir is not None else ()), *args]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise GitFailed(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        detail = "; ".join(
            line.strip() for line in done.stderr.decode(errors="replace").splitlines()
        )
        where = repo_dir if repo_dir is not None else (cwd or Path.cwd())
        raise GitFailed(f"git {args[0] if args else ''} failed in {where}: {detail}")
    return done.stdout


def git_text(
    *args: str, cwd: Path | None = None, repo_dir: Path | None = None, input: bytes | None = None
) -> str:
    """`git()`'s output as text, without the surrounding whitespace."""
    return git(*args, cwd=cwd, repo_dir=repo_dir, input=input).decode(errors="replace").strip()


def remove_stale_locks(repository: Path) -> list[Path]:
    """Delete the `*.lock` files a killed git left in one of the controller's own
    repositories (a ref, packed-refs, a worktree's index); the paths removed.

    git takes such a lock for the instant it rewrites a file and refuses to run while one
    exists, so a controller killed at that instant would retry forever after its restart.
    Call it only before this controller runs any git in `repository` (at start): the
    work dir belongs to one controller, so no other git can be holding the lock.
    """
    removed = []
    for path in sorted(repository.rglob("*.lock")):
        if "objects" in path.relative_to(repository).parts or not path.is_file():
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
