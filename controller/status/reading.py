"""Read the status branch back out of any clone of the fleet repository.

Used by `shoal status`. Git only: no broker, no controller. It picks the newest of
the local status branch and its remote-tracking copy, reads every node file in one
`git cat-file --batch`, and measures how far each observed revision is behind the
fleet head (`git rev-list --count`, once per distinct revision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.gitcli import GitFailed
from controller.gitcli import git as run_git
from controller.status.book import NODES_DIR, parse_entry


def git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    """git's output for `args` run in `repo`; `GitFailed` with git's message."""
    return run_git(*args, cwd=repo, input=input)


def _verify(repo: Path, ref: str) -> str | None:
    try:
        return git(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}").decode().strip()
    except GitFailed:
        return None


@dataclass
class FleetStatus:
    """What the status branch says, next to the fleet head it is compared with."""

    repo: Path
    status_ref: str
    status_commit: str
    status_time: str
    head_ref: str
    head: str | None
    nodes: dict[str, dict[str, Any]]
    # Commits between each observed revision and the head; None when git does not know it.
    behind: dict[str, int | None] = field(default_factory=dict)

    def behind_of(self, node: str) -> int | None:
        revision = str(self.nodes[node].get("observed", {}).get("revision") or "")
        return self.behind.get(revision)


def resolve_status_ref(repo: Path, branch: str, remote: str) -> tuple[str, str]:
    """`(ref, sha)` of the newest of `refs/heads/<branch>` and `<remote>/<branch>`."""
    local_ref, remote_ref = f"refs/heads/{branch}", f"refs/remotes/{remote}/{branch}"
    local, tracking = _verify(repo, local_ref), _verify(repo, remote_ref)
    if local and tracking and local != tracking:
        try:
            git(repo, "merge-base", "--is-ancestor", local, tracking)
            return f"{remote}/{branch}", tracking
        except GitFailed:
            return branch, local
    if local:
        return branch, local
    if tracking:
        return f"{remote}/{branch}", tracking
    raise GitFailed(
        f"no status branch {branch!r} in {repo} (neither {branch} nor {remote}/{branch}): "
        f"the controller creates it when the first edge reports; in a clone, run "
        f"`git fetch {remote} {branch}`"
    )


def fetch_status(repo: Path, branch: str, remote: str) -> None:
    """`git fetch <remote> <branch>` into `<remote>/<branch>`."""
    git(
        repo,
        "fetch",
        "-q",
        "--no-tags",
        remote,
        f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}",
    )


def read_entries(repo: Path, commit: str) -> dict[str, dict[str, Any]]:
    """Every `nodes/<node>.yaml` of the status commit, by node name."""
    try:
        listing = git(repo, "ls-tree", "--name-only", f"{commit}:{NODES_DIR}").decode()
    except GitFailed:  # no nodes/ yet: only controller.yaml (a rejected first revision)
        return {}
    names = [n for n in listing.splitlines() if n.endswith(".yaml")]
    if not names:
        return {}
    request = "".join(f"{commit}:{NODES_DIR}/{n}\n" for n in names).encode()
    out = git(repo, "cat-file", "--batch", input=request)
    entries: dict[str, dict[str, Any]] = {}
    pos = 0
    for name in names:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        size = int(header[2])
        body = out[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
        entry = parse_entry(body.decode("utf-8", errors="replace"))
        if entry is not None:
            entries[name.removesuffix(".yaml")] = entry
    return entries


def read_status(
    repo: Path, *, branch: str = "shoal-status", remote: str = "origin", ref: str = "HEAD"
) -> FleetStatus:
    """Read the status branch of `repo` and compare it with the fleet at `ref`."""
    if _verify(repo, "HEAD") is None and not (repo / "HEAD").exists():
        try:
            git(repo, "rev-parse", "--git-dir")
        except GitFailed as exc:
            raise GitFailed(f"{repo} is not a git repository", exc.command) from exc
    status_ref, commit = resolve_status_ref(repo, branch, remote)
    time = git(repo, "log", "-1", "--format=%ci", commit).decode().strip()
    nodes = read_entries(repo, commit)
    head = _verify(repo, ref)
    status = FleetStatus(repo, status_ref, commit, time, ref, head, nodes)
    revisions = {str(e.get("observed", {}).get("revision") or "") for e in nodes.values()}
    for revision in revisions:
        status.behind[revision] = _distance(repo, revision, head)
    return status


def _distance(repo: Path, revision: str, head: str | None) -> int | None:
    if not revision or head is None:
        return None
    if revision == head:
        return 0
    if _verify(repo, revision) is None:
        return None
    count = git(repo, "rev-list", "--count", f"{revision}..{head}").decode().strip()
    return int(count)
