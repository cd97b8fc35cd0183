"""The git command line, as the controller side runs it.

Every room of `controller/` that touches git (the controller's source, the status
branch and `shoal status`, checkouts for `shoal diff`, `shoal init`, the revision a
local render records) and `shoal demo` run git through `git()` here: one process per
command (`subprocess`, stdin closed unless input is given), so git's failures become
one error, `GitFailed`, that carries git's own message. Callers that know what the
command was for catch it and say so (`cannot fetch branch 'main' from ...: <git's
message>`), chaining the cause.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from shadow.errors import Unavailable


class GitFailed(Unavailable):
    """git could not do what was asked (not installed, not a repository, an unknown
    revision, a remote that cannot be reached); the message carries git's own words.

    `command` is git's arguments (the subcommand first), `detail` git's message on one
    line, `returncode` git's exit code (None when git could not run at all)."""

    def __init__(
        self,
        message: str,
        command: Sequence[str] = (),
        detail: str = "",
        returncode: int | None = None,
    ) -> None:
        super().__init__(message)
        self.command = tuple(command)
        self.detail = detail
        self.returncode = returncode


_ENGLISH = {"LC_ALL": "C", "LANGUAGE": "C"}
# How git starts each message it prints on stderr.
_MESSAGE_KINDS = frozenset({"fatal", "error", "warning", "hint", "remote", "usage"})


def one_line(stderr: bytes | str) -> str:
    """git's message on one line: each of git's messages (`fatal: ...`, `error: ...`)
    after a "; ", and the lines that continue a message after a space (hooks pad
    `remote:` lines with blanks, advice spans several lines)."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    out = ""
    for line in (raw.strip() for raw in text.splitlines()):
        if line:
            starts = line.split(":", 1)[0] in _MESSAGE_KINDS
            out += ("; " if starts else " ") + line if out else line
    return out


def git(
    *args: str,
    cwd: Path | None = None,
    repo_dir: Path | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> bytes:
    """git's stdout for `git args` run in `cwd`, or on the git dir `repo_dir` (`--git-dir`).

    `env` adds variables to the environment (e.g. `GIT_INDEX_FILE`); `timeout` (seconds)
    ends a git that hangs, as a GitFailed. git speaks English (`LC_ALL=C`, as GitPython
    runs it), so its messages read the same everywhere and the words callers look for in
    them (`non-fast-forward`) are there.

    Raises `GitFailed` "git <subcommand> failed in <where>: <git's message>" when git
    exits non-zero, or says why git could not run. Only the subcommand is named: the
    other arguments may hold a URL with a password."""
    command = ["git", *(("--git-dir", str(repo_dir)) if repo_dir is not None else ()), *args]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            env={**os.environ, **(env or {}), **_ENGLISH},
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitFailed(
            f"git {args[0] if args else ''} did not finish in {timeout:g}s", args
        ) from exc
    except FileNotFoundError as exc:
        if cwd is not None and exc.filename != "git":
            raise GitFailed(f"cannot run git in {cwd}: no such directory", args) from exc
        raise GitFailed(
            "git is not installed: shoal needs it to read fleet repositories (install git)",
            args,
        ) from exc
    except OSError as exc:
        raise GitFailed(f"cannot run git: {exc}", args) from exc
    if done.returncode != 0:
        detail = one_line(done.stderr or done.stdout)
        where = repo_dir if repo_dir is not None else Path(cwd or ".").absolute()
        subcommand = args[0] if args else "git"
        raise GitFailed(
            f"git {subcommand} failed in {where}: {detail or f'exit code {done.returncode}'}",
            args,
            detail,
            done.returncode,
        )
    return done.stdout


def git_text(
    *args: str,
    cwd: Path | None = None,
    repo_dir: Path | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """`git()`'s output as text, without the surrounding whitespace."""
    out = git(*args, cwd=cwd, repo_dir=repo_dir, input=input, env=env, timeout=timeout)
    return out.decode(errors="replace").strip()


def git_succeeds(*args: str, cwd: Path | None = None, repo_dir: Path | None = None) -> bool:
    """Whether `git args` exits 0 (for questions: is this an ancestor, does this exist)."""
    try:
        git(*args, cwd=cwd, repo_dir=repo_dir)
    except GitFailed:
        return False
    return True


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
