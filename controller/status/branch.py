"""The status branch in git: a private clone that commits status files and pushes them.

Used by the `StatusWriter` only. It lives in `<work dir>/status-branch`, a repository
that fetches just the status branch (never the fleet's history), so it stays small
and fast. All index work goes through the git CLI (`repo.git`): GitPython's own
index code is about 20x slower.

Pushing is where other writers show up (another controller shard, a person): a
rejected push (non-fast-forward) makes `reapply` fetch the new tip, reset onto it and
write this writer's files again, so nothing either side wrote is lost.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from controller.source import local_path
from controller.status.book import NODES_DIR, parse_entry

log = logging.getLogger(__name__)

REMOTE = "origin"
AUTHOR_NAME = "shoal controller"
AUTHOR_EMAIL = "shoal-controller@localhost"

# What git says when a push loses the race against someone else's push.
_REJECTED = ("non-fast-forward", "fetch first", "[rejected]", "stale info", "cannot lock ref")


class StatusBranchError(RuntimeError):
    """git failed (remote unreachable, bad URL); the writer keeps its state and retries."""


class PushRejected(StatusBranchError):
    """The remote branch moved on since our last fetch: re-apply on the new tip."""


class StatusBranch:
    def __init__(self, repo_url: str, path: Path, branch: str = "shoal-status") -> None:
        local = local_path(repo_url)
        # git runs inside `path`: a relative repository path must not resolve there.
        self.repo_url = str(local) if local and "://" not in repo_url else repo_url
        self.path = Path(path)
        self.branch = branch
        self._repo: Any = None

    @property
    def remote_ref(self) -> str:
        return f"refs/remotes/{REMOTE}/{self.branch}"

    def _git(self, *args: str) -> str:
        import git

        try:
            out: str = self._repo.git.execute(["git", *args])
            return out
        except git.GitCommandError as exc:
            detail = " ".join(
                part.strip().removeprefix("stderr:").removeprefix("stdout:").strip().strip("'")
                for part in (exc.stderr or "", exc.stdout or "")
                if part.strip()
            )
            message = f"git {args[0]} failed: {detail or exc}"
            if args[0] == "push" and any(word in detail for word in _REJECTED):
                raise PushRejected(message) from exc
            raise StatusBranchError(message) from exc

    def _ok(self, *args: str) -> bool:
        try:
            self._git(*args)
            return True
        except StatusBranchError:
            return False

    # --- setup -----------------------------------------------------------------------

    def open(self) -> dict[str, dict[str, Any]]:
        """Prepare the clone on the newest status we know; return the committed node entries.

        Local commits a previous run could not push are kept when the remote has not
        moved since; `ahead()` then says a push is due.
        """
        import git

        if not (self.path / ".git").is_dir():
            if self.path.exists():
                shutil.rmtree(self.path)
            self.path.mkdir(parents=True)
            self._repo = git.Repo.init(self.path)
        else:
            self._repo = git.Repo(self.path)
        self._configure()
        remote_exists = self.fetch()
        local_exists = self._ok("rev-parse", "--verify", "-q", f"refs/heads/{self.branch}")
        if remote_exists and not (
            local_exists
            and self._ok(
                "merge-base", "--is-ancestor", self.remote_ref, f"refs/heads/{self.branch}"
            )
        ):
            self._git("checkout", "-q", "-f", "-B", self.branch, self.remote_ref)
        elif local_exists:
            self._git("checkout", "-q", "-f", self.branch)
        else:
            log.info("status branch %s does not exist yet: it starts as an orphan", self.branch)
            self._git("checkout", "-q", "-f", "--orphan", self.branch)
        if self.has_commits():
            self._git("reset", "-q", "--hard")
        self._git("clean", "-q", "-f", "-d")
        return self.read_entries()

    def _configure(self) -> None:
        remotes = self._git("remote").split()
        if REMOTE in remotes:
            self._git("remote", "set-url", REMOTE, self.repo_url)
        else:
            self._git("remote", "add", REMOTE, self.repo_url)
        for key, value in (
            ("user.name", AUTHOR_NAME),
            ("user.email", AUTHOR_EMAIL),
            ("commit.gpgsign", "false"),
            ("core.autocrlf", "false"),
            ("gc.auto", "0"),
        ):
            self._git("config", key, value)

    def fetch(self) -> bool:
        """Fetch the remote status branch; False when the remote has none yet."""
        heads = self._git("ls-remote", "--heads", REMOTE, f"refs/heads/{self.branch}")
        if not heads.strip():
            return False
        self._git("fetch", "-q", REMOTE, f"+refs/heads/{self.branch}:{self.remote_ref}")
        return True

    # --- reading ---------------------------------------------------------------------

    def has_commits(self) -> bool:
        return self._ok("rev-parse", "--verify", "-q", "HEAD")

    def head(self) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "-q", "HEAD")
        except StatusBranchError:
            return None

    def read_entries(self) -> dict[str, dict[str, Any]]:
        """Node entries in the working tree (which matches HEAD after open/reapply)."""
        entries: dict[str, dict[str, Any]] = {}
        for file in sorted((self.path / NODES_DIR).glob("*.yaml")):
            entry = parse_entry(file.read_text(encoding="utf-8"))
            if entry is None or entry["node"] != file.stem:
                log.warning("status branch: %s/%s is not a node status file", NODES_DIR, file.name)
                continue
            entries[file.stem] = entry
        return entries

    def ahead(self) -> bool:
        """True when local commits have not reached the remote yet."""
        if not self.has_commits():
            return False
        if not self._ok("rev-parse", "--verify", "-q", self.remote_ref):
            return True
        return self._git("rev-list", "--count", f"{self.remote_ref}..HEAD").strip() != "0"

    # --- writing ---------------------------------------------------------------------

    def write(self, files: Mapping[str, str]) -> None:
        for rel, text in files.items():
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    def commit(self, files: Mapping[str, str], message: str) -> str | None:
        """Write `files`, commit them; the new sha, or None when nothing changed."""
        self.write(files)
        self._git("add", "-A", "--", *sorted({rel.split("/")[0] for rel in files}))
        try:
            self._git("commit", "-q", "--no-verify", "-m", message)
        except StatusBranchError as exc:
            if "nothing to commit" in str(exc) or "nothing added to commit" in str(exc):
                return None
            raise
        return self.head()

    def push(self) -> None:
        """Push HEAD to the status branch; `PushRejected` when the remote moved on."""
        self._git("push", "-q", REMOTE, f"HEAD:refs/heads/{self.branch}")

    def unpushed_subjects(self) -> list[str]:
        if not self.has_commits():
            return []
        range_ = (
            f"{self.remote_ref}..HEAD"
            if self._ok("rev-parse", "--verify", "-q", self.remote_ref)
            else "HEAD"
        )
        return self._git("log", "--reverse", "--format=%s", range_).splitlines()

    def reapply(self, files: Mapping[str, str], message: str) -> str | None:
        """Fetch the remote tip, reset onto it and commit `files` (everything we know) again."""
        self.fetch()
        self._git("reset", "-q", "--hard", self.remote_ref)
        self._git("clean", "-q", "-f", "-d")
        return self.commit(files, message)
