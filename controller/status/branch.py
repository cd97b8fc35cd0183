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
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from controller.gitcli import GitFailed, git, local_path, remove_stale_locks
from controller.status.book import NODES_DIR, parse_entry
from shadow import is_valid_node_name

log = logging.getLogger(__name__)

REMOTE = "origin"
AUTHOR_NAME = "shoal controller"
AUTHOR_EMAIL = "shoal-controller@localhost"

# Commits between `git gc --auto` runs.
GC_EVERY = 50

# A directory with at least this many changed files in one commit is handed to
# fast-import as one tree (`git mktree`) instead of one `M` line per file: fast-import
# finds each path in its directory by walking the entries one by one, quadratic in the
# directory's size (10,000 node files: 0.6 s of a 0.7 s commit).
WHOLE_TREE_MIN = 64
REGULAR = "100644"
# fast-import sets up a zlib stream per object and frees it again; glibc then hands the
# top of the heap back to the kernel, and the next object faults it in anew. Keeping a
# little padding at the top ends that: 10,000 blobs take 0.05 s instead of 0.55 s.
# (Other C libraries ignore the variable.)
FAST_IMPORT_ENV = {"MALLOC_TOP_PAD_": str(4 << 20)}

# What git says when a push loses the race against someone else's push.
_REJECTED = ("non-fast-forward", "fetch first", "[rejected]", "stale info", "cannot lock ref")


class PushRejected(GitFailed):
    """The remote branch moved on since our last fetch: re-apply on the new tip.

    Any other `GitFailed` (remote unreachable, bad URL): the writer keeps its state
    and retries."""


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
        self._special: set[str] = set()  # paths at the tip that are not plain files
        self._commits = 0

    @property
    def local_ref(self) -> str:
        return f"refs/heads/{self.branch}"

    @property
    def remote_ref(self) -> str:
        return f"refs/remotes/{REMOTE}/{self.branch}"

    def _git(
        self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        try:
            out = git(*args, repo_dir=self.path, input=input, env=env)
        except GitFailed as exc:
            if args[0] == "push" and any(word in exc.detail for word in _REJECTED):
                raise PushRejected(str(exc), exc.command, exc.detail, exc.returncode) from exc
            raise
        return out.decode(errors="replace").strip()

    def _ok(self, *args: str) -> bool:
        try:
            self._git(*args)
            return True
        except GitFailed:
            return False

    def _sha(self, ref: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
        except GitFailed:
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
        self._special = set()
        if self.head() is None:
            return
        listing = git("ls-tree", "-r", "-z", "--full-tree", self.local_ref, repo_dir=self.path)
        for line in listing.decode("utf-8", errors="surrogateescape").split("\0"):
            if not line:
                continue
            meta, _, name = line.partition("\t")
            mode, _, rest = meta.partition(" ")
            self._blobs[name] = rest.partition(" ")[2]
            if mode != REGULAR:
                self._special.add(name)

    # --- reading ---------------------------------------------------------------------

    def head(self) -> str | None:
        return self._sha(self.local_ref)

    def read_entries(self) -> dict[str, dict[str, Any]]:
        """Node entries at the branch tip, by node name."""
        head = self.head()
        names = [p for p in self._blobs if p.startswith(f"{NODES_DIR}/") and p.endswith(".yaml")]
        if head is None or not names:
            return {}
        # By blob id: `<head>:<path>` would make git search the folder again per file.
        request = "".join(f"{self._blobs[name]}\n" for name in names).encode()
        out = git("cat-file", "--batch", repo_dir=self.path, input=request)
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

    def commit(self, files: Mapping[str, str | None], message: str) -> str | None:
        """Commit the files whose content changed (None: delete the file); the new sha,
        or None when none did."""
        changed: dict[str, bytes | None] = {}
        ids: dict[str, str] = {}
        for rel, text in files.items():
            if text is None:
                if rel in self._blobs:
                    changed[rel] = None
                continue
            data = text.encode("utf-8")
            blob = blob_id(data)
            if self._blobs.get(rel) != blob:
                changed[rel] = data
                ids[rel] = blob
        if not changed:
            return None
        whole = self._whole_trees(changed, ids)
        parent = self.head()
        body = message.encode("utf-8")
        # Blobs of the directories written whole come first, as bare `blob` commands.
        stream = [
            b"blob\ndata %d\n%s\n" % (len(content), content)
            for rel, content in changed.items()
            if content is not None and rel.rpartition("/")[0] in whole
        ]
        stream += [
            f"commit {self.local_ref}\n".encode(),
            f"committer {AUTHOR_NAME} <{AUTHOR_EMAIL}> {int(time.time())} +0000\n".encode(),
            b"data %d\n%s\n" % (len(body), body),
        ]
        if parent:
            stream.append(f"from {parent}\n".encode())
        for folder in sorted(whole):
            tree = whole[folder]
            if tree is None:
                stream.append(b"D %s\n" % folder.encode())
            else:
                stream.append(b"M 040000 %s %s\n" % (tree.encode(), folder.encode()))
        for rel in sorted(changed):
            if rel.rpartition("/")[0] in whole:
                continue
            content = changed[rel]
            if content is None:
                stream.append(b"D %s\n" % rel.encode())
            else:
                stream.append(
                    b"M 100644 inline %s\ndata %d\n%s\n" % (rel.encode(), len(content), content)
                )
        self._git("fast-import", "--quiet", "--force", input=b"".join(stream), env=FAST_IMPORT_ENV)
        for rel, written in changed.items():
            if written is None:
                self._blobs.pop(rel, None)
            else:
                self._blobs[rel] = ids[rel]
            self._special.discard(rel)
        self._commits += 1
        if self._commits % GC_EVERY == 0:  # one pack per commit: let git consolidate them
            self._ok("gc", "--auto", "--quiet")
        return self.head()

    def _whole_trees(
        self, changed: Mapping[str, bytes | None], ids: Mapping[str, str]
    ) -> dict[str, str | None]:
        """Directories with many changed files, written as one tree each: folder -> the
        new tree's id (written by `git mktree`, its blobs by the fast-import that
        follows), or None when nothing is left in it. Only folders of plain files
        qualify; any other keeps the per-file path."""
        counts: dict[str, int] = {}
        for rel in changed:
            folder = rel.rpartition("/")[0]
            counts[folder] = counts.get(folder, 0) + 1
        folders = {f for f, n in counts.items() if f and n >= WHOLE_TREE_MIN}
        if not folders:
            return {}
        listings: dict[str, dict[str, str]] = {folder: {} for folder in folders}
        for rel in (*self._blobs, *changed):
            folder, _, name = rel.rpartition("/")
            listing = listings.get(folder)
            if listing is not None and rel not in self._special:
                if rel in self._blobs:
                    listing[name] = self._blobs[rel]
                continue
            for other in [f for f in folders if rel.startswith(f + "/")]:
                folders.discard(other)  # a subfolder or a special file: not flat
        trees: dict[str, str | None] = {}
        for folder in sorted(folders):
            listing = listings[folder]
            for rel, content in changed.items():
                head, _, name = rel.rpartition("/")
                if head == folder:
                    if content is None:
                        listing.pop(name, None)
                    else:
                        listing[name] = ids[rel]
            if not listing:
                trees[folder] = None
                continue
            request = "".join(f"{REGULAR} blob {blob}\t{name}\0" for name, blob in listing.items())
            trees[folder] = self._git("mktree", "-z", "--missing", input=request.encode())
        return trees

    def push(self) -> None:
        """Push the branch; `PushRejected` when the remote moved on."""
        self._git("push", "-q", REMOTE, f"{self.local_ref}:{self.local_ref}")

    def reapply(self, files: Mapping[str, str], message: str) -> str | None:
        """Fetch the remote tip, move onto it and commit `files` (all we know) again."""
        self.fetch()
        remote = self._sha(self.remote_ref)
        if remote is None:
            raise GitFailed(f"the remote has no branch {self.branch} to re-apply onto")
        self._git("update-ref", self.local_ref, remote)
        self._load_blobs()
        return self.commit(files, message)
