"""The git command line, as the controller side runs it.

Every room of `controller/` that touches git (the controller's source, the status
branch, checkouts for review, `shoal init` and the demo) goes through this module, so
git's failures become one kind of error with git's own message.
"""

from __future__ import annotations

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
