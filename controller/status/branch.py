"""The status branch in git: a private bare repository that commits status files and pushes.

Used by the `StatusWriter` only. It lives in `<work dir>/status-branch`, fetches just
the status branch (never the fleet's history) and has no working tree: a commit is
one `git fast-import` run that writes the changed files as one pack, with the
commit, on top of the branch tip. That keeps a 1,000-node commit far under a
second even on a loaded machine (writing 1,000 files and `git add` + `git commit`
takes several times as long; GitPython's own index code is slower still). Files
whose content is unchanged are left out by comparing git blob ids, so a commit
only happens when something really changed.

Pushing is where other writers show up (another controller shard, a person): a
rejected push (non-fast-forward) makes `reapply` fetch the new tip and commit this
writer's files again on top of it, so nothing either side wrote is lost.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from controller.gitcli import local_path, remove_stale_locks
from controller.status.book import NODES_DIR, parse_entry
from shadow import is_valid_node_name

log = logging.getLogger(__name__)

REMOTE = "origin"
AUTHOR_NAME = "shoal controller"
AUTHOR_EMAIL = "shoal-controller@localhost"

# Commits between `git gc --auto` runs.
GC_EVERY = 50

# What git says when a push loses the race against someone else's push.
_REJECTED = ("non-fast-forward", "fetch first", "[rejected]", "stale info", "cannot lock ref")


class StatusBranchError(RuntimeError):
    """git failed (remote unreachable, bad URL); the writer keeps its state and retries."""


class PushRejected(StatusBranchError):
    """The remote branch moved on since our last fetch: re-apply on the new tip."""


def blob_id(data: bytes) -> str:
    """The id git gives a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class StatusBranch:
    def __init__(self, repo_url: str, path: Path, branch: str = "shoal-status") -> None:
        local = local_path(repo_url)
        # git runs inside `path`: a relative repository path must not resolve there.
        self.repo_url = str(local) if local and "://" not in repo_url else repo_url
        self.path = Path(path)
        self.branch = branch
        # path -> blob id at the branch tip, to leave unchanged files out of commits.
        self._blobs: dict[str, str] = {}
        self._commits = 0

    @property
    def local_ref(self) -> str:
        return f"refs/heads/{self.branch}"

    @property
    def remote_ref(self) -> str:
        return f"refs/remotes/{REMOTE}/{self.branch}"

    def _git(self, *args: str, input: bytes | None = None) -> str:
        try:
            done = subprocess.run(
                ["git", "--git-dir", str(self.path), *args],
                input=input,
                capture_output=True,
                check=False,
            )
        except OSError as exc:
            raise StatusBranchError(f"cannot run git: {exc}") from exc
        if done.returncode != 0:
            # One line: git's stderr spans lines and hooks pad "remote:" lines with blanks.
            detail = " ".join((done.stderr or done.stdout).decode(errors="replace").split())
            message = f"git {args[0]} failed: {detail}"
            if args[0] == "push" and any(word in detail for word in _REJECTED):
                raise PushRejected(message)
            raise StatusBranchError(message)
        return done.stdout.decode(errors="replace").strip()

    def _ok(self, *args: str) -> bool:
        try:
            self._git(*args)
            return True
        except StatusBranchError:
            return False

    def _sha(self, ref: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
        except StatusBranchError:
            return None

    # --- setup -----------------------------------------------------------------------

    def open(self) -> dict[str, dict[str, Any]]:
        """Prepare the repository on the newest status we know; return the committed entries.

        Local commits a previous run could not push are kept when the remote has not
        moved since; `ahead()` then says a push is due.
        """
        if not (self.path / "HEAD").is_file():
            if self.path.exists():
                shutil.rmtree(self.path)
            self.path.mkdir(parents=True)
            self._git("init", "-q", "--bare")
        for lock in remove_stale_locks(self.path):  # no git of ours runs here before open()
            log.warning("status branch: removed %s, left behind by a git that was killed", lock)
        self._configure()
        remote = self._sha(self.remote_ref) if self.fetch() else None
        local = self._sha(self.local_ref)
        if remote and not (local and self._ok("merge-base", "--is-ancestor", remote, local)):
            self._git("update-ref", self.local_ref, remote)
        elif not local and not remote:
            log.info("status branch %s does not exist yet: it starts as an orphan", self.branch)
        self._load_blobs()
        return self.read_entries()

    def _configure(self) -> None:
        remotes = self._git("remote").split()
        verb = "set-url" if REMOTE in remotes else "add"
        self._git("remote", verb, REMOTE, self.repo_url)
        self._git("config", "core.logAllRefUpdates", "false")

    def fetch(self) -> bool:
        """Fetch the remote status branch; False when the remote has none yet."""
        heads = self._git("ls-remote", "--heads", REMOTE, self.local_ref)
        if not heads:
            return False
        self._git("fetch", "-q", "--no-tags", REMOTE, f"+{self.local_ref}:{self.remote_ref}")
        return True

    def _load_blobs(self) -> None:
        self._blobs = {}
        if self.head() is None:
            return
        for line in self._git("ls-tree", "-r", "--full-tree", self.local_ref).splitlines():
            meta, _, name = line.partition("\t")
            self._blobs[name] = meta.split()[2]

    # --- reading ---------------------------------------------------------------------

    def head(self) -> str | None:
        return self._sha(self.local_ref)

    def read_entries(self) -> dict[str, dict[str, Any]]:
        """Node entries at the branch tip, by node name."""
        head = self.head()
        names = [p for p in self._blobs if p.startswith(f"{NODES_DIR}/") and p.endswith(".yaml")]
        if head is None or not names:
            return {}
        request = "".join(f"{head}:{name}\n" for name in names).encode()
        out = subprocess.run(
            ["git", "--git-dir", str(self.path), "cat-file", "--batch"],
            input=request,
            capture_output=True,
            check=True,
        ).stdout
        entries: dict[str, dict[str, Any]] = {}
        pos = 0
        for name in names:
            header_end = out.index(b"\n", pos)
            size = int(out[pos:header_end].split()[2])
            body = out[header_end + 1 : header_end + 1 + size]
            pos = header_end + 2 + size
            node = name[len(NODES_DIR) + 1 : -len(".yaml")]
            entry = parse_entry(body.decode("utf-8", errors="replace"))
            if entry is None or entry["node"] != node or not is_valid_node_name(node):
                log.warning("status branch: %s is not a node status file", name)
                continue
            entries[node] = entry
        return entries

    def ahead(self) -> bool:
        """True when local commits have not reached the remote yet."""
        head = self.head()
        if head is None:
            return False
        remote = self._sha(self.remote_ref)
        return remote is None or self._git("rev-list", "--count", f"{remote}..{head}") != "0"

    def unpushed_subjects(self) -> list[str]:
        head = self.head()
        if head is None:
            return []
        remote = self._sha(self.remote_ref)
        span = f"{remote}..{head}" if remote else head
        return self._git("log", "--reverse", "--format=%s", span).splitlines()

    # --- writing ---------------------------------------------------------------------

    def commit(self, files: Mapping[str, str], message: str) -> str | None:
        """Commit the files whose content changed; the new sha, or None when none did."""
        changed: dict[str, bytes] = {}
        for rel, text in files.items():
            data = text.encode("utf-8")
            if self._blobs.get(rel) != blob_id(data):
                changed[rel] = data
        if not changed:
            return None
        parent = self.head()
        body = message.encode("utf-8")
        stream = [
            f"commit {self.local_ref}\n".encode(),
            f"committer {AUTHOR_NAME} <{AUTHOR_EMAIL}> {int(time.time())} +0000\n".encode(),
            b"data %d\n%s\n" % (len(body), body),
        ]
        if parent:
            stream.append(f"from {parent}\n".encode())
        for rel in sorted(changed):
            data = changed[rel]
            stream.append(b"M 100644 inline %s\ndata %d\n%s\n" % (rel.encode(), len(data), data))
        self._git("fast-import", "--quiet", "--force", input=b"".join(stream))
        for rel, data in changed.items():
            self._blobs[rel] = blob_id(data)
        self._commits += 1
        if self._commits % GC_EVERY == 0:  # one pack per commit: let git consolidate them
            self._ok("gc", "--auto", "--quiet")
        return self.head()

    def push(self) -> None:
        """Push the branch; `PushRejected` when the remote moved on."""
        self._git("push", "-q", REMOTE, f"{self.local_ref}:{self.local_ref}")

    def reapply(self, files: Mapping[str, str], message: str) -> str | None:
        """Fetch the remote tip, move onto it and commit `files` (all we know) again."""
        self.fetch()
        remote = self._sha(self.remote_ref)
        if remote is None:
            raise StatusBranchError(f"the remote has no branch {self.branch} to re-apply onto")
        self._git("update-ref", self.local_ref, remote)
        self._load_blobs()
        return self.commit(files, message)
