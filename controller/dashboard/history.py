"""History for the node and revision pages, read from git.

A node's history is `git log -- nodes/<node>.yaml` on the status branch (each commit
with the node's state and observed revision at that commit, read in one
`git cat-file --batch`); a fleet revision is `git show` in the controller's clone.
Both go through controller/gitcli.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.gitcli import GitFailed, git, git_text
from controller.status.book import node_path, parse_entry

HISTORY_LENGTH = 20  # status commits shown on a node page


@dataclass(frozen=True)
class Change:
    """One status commit that touched a node's file."""

    commit: str
    time: int  # epoch seconds
    subject: str
    state: str
    revision: str  # the fleet revision the node observed then


@dataclass(frozen=True)
class Revision:
    """One commit of the fleet repository."""

    sha: str
    author: str
    time: int
    subject: str
    body: str
    files: list[tuple[str, str]]  # (status letter, path)


def node_history(status_dir: Path, branch: str, node: str) -> list[Change]:
    """The newest status commits that changed `node`'s file, newest first."""
    path = node_path(node)
    try:
        log = git_text(
            "log",
            f"-n{HISTORY_LENGTH}",
            "--format=%H%x00%ct%x00%s",
            f"refs/heads/{branch}",
            "--",
            path,
            repo_dir=status_dir,
        )
    except GitFailed:
        return []
    commits = [line.split("\0", 2) for line in log.splitlines() if line.count("\0") == 2]
    if not commits:
        return []
    request = "".join(f"{sha}:{path}\n" for sha, _t, _s in commits).encode()
    entries = _batch(git("cat-file", "--batch", repo_dir=status_dir, input=request), len(commits))
    changes = []
    for (sha, when, subject), entry in zip(commits, entries, strict=True):
        observed = (entry or {}).get("observed") or {}
        changes.append(
            Change(
                sha,
                int(when),
                subject,
                str((entry or {}).get("state") or "?"),
                str(observed.get("revision") or ""),
            )
        )
    return changes


def _batch(out: bytes, count: int) -> list[dict[str, Any] | None]:
    """The parsed entries of a `git cat-file --batch` answer, one per request line."""
    entries: list[dict[str, Any] | None] = []
    pos = 0
    for _ in range(count):
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        if len(header) < 3 or header[1] == b"missing":
            entries.append(None)
            pos = header_end + 1
            continue
        size = int(header[2])
        body = out[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
        entries.append(parse_entry(body.decode("utf-8", errors="replace")))
    return entries


def fleet_revision(fleet_dir: Path, sha: str) -> Revision | None:
    """The fleet commit `sha` (a full or abbreviated id), or None when the clone lacks it."""
    try:
        full = git_text("rev-parse", "--verify", "-q", f"{sha}^{{commit}}", repo_dir=fleet_dir)
        text = git_text(
            "show", "-s", "--format=%H%x00%an%x00%ct%x00%s%x00%b", full, repo_dir=fleet_dir
        )
        names = git_text(
            "diff-tree", "--no-commit-id", "--name-status", "-r", "--root", full, repo_dir=fleet_dir
        )
    except GitFailed:
        return None
    parts = text.split("\0", 4)
    if len(parts) < 5:
        return None
    files = []
    for line in names.splitlines()[:200]:
        status, _, path = line.partition("\t")
        files.append((status[:1], path))
    return Revision(parts[0], parts[1], int(parts[2]), parts[3], parts[4].strip(), files)
