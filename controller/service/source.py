"""The git source: where the controller gets each revision of the fleet repository.

`GitSource(url, branch, work_dir)` keeps one bare clone in the work dir and fetches
the branch into it (`fetch()` returns the branch's commit sha); `checkout(sha)`
moves the controller's own detached worktree to that revision (git rewrites only
the files that changed). git runs through `controller.gitcli` (one process per
command, as GitPython's `repo.git` ran it; GitPython's own object code is far slower);
its failures become `GitFailed` naming the branch or revision and git's message.

`RefWatcher` (watchdog) notices a commit in a *local* repository within a second by
watching its refs; the controller also polls and takes push webhooks.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from controller.gitcli import GitFailed, git, git_dir, git_text, local_path, remove_stale_locks

log = logging.getLogger(__name__)


def missing_source(url: str, branch: str) -> str | None:
    """Why `shoal controller` cannot follow `branch` of `url` at all, or None.

    A local repository that is not there, or a branch that no reachable repository
    has, will not appear by retrying: say so at start, with the branches there are.
    A remote that does not answer is left to the retrying fetch (it may come back).
    """
    local = local_path(url)
    if local is not None and not local.exists():
        return f"--repo {url}: no such folder (expected a git repository)"
    try:
        listing = git_text(
            "ls-remote", "--heads", url, env={"GIT_TERMINAL_PROMPT": "0"}, timeout=30
        )
    except GitFailed as exc:
        return f"--repo {url}: not a git repository ({exc})" if local is not None else None
    branches = sorted(
        line.split("refs/heads/", 1)[1] for line in listing.splitlines() if "refs/heads/" in line
    )
    if branch in branches:
        return None
    found = ", ".join(branches) if branches else "none (an empty repository)"
    return f"--repo {url} has no branch {branch!r}; its branches: {found} (give --branch)"


class GitSource:
    def __init__(self, url: str, branch: str, work_dir: Path) -> None:
        self.url = url
        self.branch = branch
        self.work_dir = Path(work_dir)
        self._repo_dir = self.work_dir / "repo.git"
        self._checkout = self.work_dir / "checkout"
        self._lock = threading.Lock()
        self.fetches = 0  # `git fetch` runs so far (for /metrics and the idle-watcher test)
        self._locks_checked = False  # stale git locks removed (once, before any git runs)
        local = local_path(url)
        # A local path is fetched by its absolute path, so the work dir may live anywhere.
        self._fetch_url = str(local) if local is not None else url

    @property
    def repo_dir(self) -> Path:
        """The bare clone every fetched revision is in (the dashboard reads history here)."""
        return self._repo_dir

    @property
    def display_url(self) -> str:
        parts = urlsplit(self.url)
        if parts.password:
            return self.url.replace(f":{parts.password}@", ":***@")
        return self.url

    def _git(self, *args: str) -> str:
        """git on the bare clone (made on first use)."""
        return git_text(*args, repo_dir=self._repo())

    def _repo(self) -> Path:
        if not self._locks_checked:
            self._locks_checked = True
            for path in remove_stale_locks(self._repo_dir):
                log.warning("removed %s, left behind by a git that was killed", path)
        if not (self._repo_dir / "HEAD").exists():
            try:
                self._repo_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise GitFailed(f"cannot use the work dir {self.work_dir}: {exc}") from exc
            git("init", "--quiet", "--bare", repo_dir=self._repo_dir)
        return self._repo_dir

    def fetch(self) -> str:
        """Fetch the branch; return its commit sha. Raises GitFailed."""
        ref = f"refs/shoal/{self.branch}"
        with self._lock:
            self.fetches += 1
            try:
                self._git(
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--force",
                    self._fetch_url,
                    f"+refs/heads/{self.branch}:{ref}",
                )
                sha = self._git("rev-parse", "--verify", f"{ref}^{{commit}}")
            except GitFailed as exc:
                raise GitFailed(
                    f"cannot fetch branch {self.branch!r} from {self.display_url}: "
                    f"{exc.detail or exc}",
                    exc.command,
                    exc.detail,
                    exc.returncode,
                ) from exc
        return sha

    def peek(self) -> str | None:
        """The branch's commit on the remote now, without fetching; None if unknown.

        Safe beside a running `fetch` (it touches no local state): the controller asks
        while a revision renders, to drop a render a newer commit supersedes.
        """
        try:
            out = git_text(
                "ls-remote",
                self.url,
                f"refs/heads/{self.branch}",
                repo_dir=self._repo(),
                timeout=30,
            )
        except GitFailed as exc:  # unreachable, say: nothing to decide on
            log.debug("cannot peek at %s: %s", self.display_url, exc)
            return None
        return str(out).split()[0] if out else None

    def changed_files(self, old: str, new: str) -> list[str] | None:
        """Repo-relative paths that differ between two revisions; None when git cannot tell."""
        try:
            with self._lock:
                out = self._git("diff", "--name-only", "--no-renames", "-z", old, new)
        except GitFailed:
            return None
        return [p for p in out.split("\0") if p]

    def checkout(self, sha: str) -> Path:
        """The revision's files, in the controller's own detached worktree.

        One worktree is moved from revision to revision: git rewrites only the files
        that differ, so a push touching ten files costs milliseconds, not a full
        extract of a 10,000-node repository. Only the reconcile worker calls this,
        one revision at a time, so nothing reads the folder while it changes.
        """
        with self._lock:
            try:
                if not (self._checkout / ".git").exists():
                    shutil.rmtree(self._checkout, ignore_errors=True)
                    self._git("worktree", "prune")
                    self._git(
                        "worktree",
                        "add",
                        "--quiet",
                        "--detach",
                        "--force",
                        str(self._checkout),
                        sha,
                    )
                else:
                    # Only git writes in this worktree, so no `git clean` (a 10,000-file scan).
                    git("checkout", "--quiet", "--detach", "--force", sha, cwd=self._checkout)
            except GitFailed as exc:
                raise GitFailed(
                    f"cannot check out revision {sha[:12]}: {exc.detail or exc}",
                    exc.command,
                    exc.detail,
                    exc.returncode,
                ) from exc
        return self._checkout


# watchdog's event types that mean a file changed; open/close/access events are not, and
# the controller's own `git fetch` of the watched repository opens HEAD and packed-refs.
CHANGE_EVENTS = frozenset({"created", "modified", "moved", "deleted"})
DEBOUNCE_SECONDS = 0.05  # git writes `<ref>.lock`, then renames it: one commit, one call


class RefWatcher:
    """Calls `on_change()` when a local repository's branch may have moved.

    git updates a ref by writing `<ref>.lock` and renaming it over the ref (or rewriting
    `packed-refs` after `git gc`), so created/moved/modified/deleted events on the
    branch's ref and on `packed-refs` are the signal; nothing else is. Reads never
    count: the controller's own fetch opens those files, and reacting to that made an
    idle controller fetch in a loop. Events within `DEBOUNCE_SECONDS` make one call.
    """

    def __init__(
        self,
        repo_path: Path,
        branch: str,
        on_change: Callable[[], None],
        *,
        debounce: float = DEBOUNCE_SECONDS,
    ) -> None:
        self.git_dir = git_dir(repo_path)
        self.branch = branch
        self._on_change = on_change
        self._debounce = debounce
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()
        self._observer: Any = None

    def _interesting(self, path: str) -> bool:
        rel = Path(path)
        try:
            rel = rel.relative_to(self.git_dir)
        except ValueError:
            return False
        name = rel.as_posix().removesuffix(".lock")
        return name in ("packed-refs", f"refs/heads/{self.branch}")

    def notice(self, event_type: str, *paths: str) -> None:
        """One filesystem event: schedule `on_change()` if it may have moved the branch."""
        if event_type not in CHANGE_EVENTS:
            return
        if not any(p and self._interesting(p) for p in paths):
            return
        with self._timer_lock:
            if self._timer is not None:
                return  # a call is already due and will see this change too
            self._timer = threading.Timer(self._debounce, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._timer_lock:
            self._timer = None
        self._on_change()

    def start(self) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                dest = getattr(event, "dest_path", "") or ""
                watcher.notice(event.event_type, str(event.src_path), str(dest))

        from watchdog import events

        # Only changes reach Python: without a filter, inotify also reports every open
        # and read, and each `git` run on the repository (the status writer's pushes,
        # a reader polling it) wakes this thread for dozens of events it then ignores.
        changes: list[type[FileSystemEvent]] = [
            events.FileCreatedEvent,
            events.FileModifiedEvent,
            events.FileMovedEvent,
            events.FileDeletedEvent,
            events.DirCreatedEvent,
            events.DirModifiedEvent,
            events.DirMovedEvent,
            events.DirDeletedEvent,
        ]
        observer = Observer()
        handler = Handler()

        def watch(path: Path, recursive: bool) -> None:
            try:
                observer.schedule(handler, str(path), recursive=recursive, event_filter=changes)
            except TypeError:  # a watchdog without `event_filter`: every event, filtered here
                observer.schedule(handler, str(path), recursive=recursive)

        watch(self.git_dir, False)
        folder = self.git_dir / "refs" / "heads"
        if folder.is_dir():
            # refs/heads may hold nested branch names (feature/x), hence recursive.
            watch(folder, True)
        observer.daemon = True
        observer.start()
        self._observer = observer
        log.info("watching %s for commits on %s", self.git_dir, self.branch)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
