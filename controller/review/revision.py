"""Which revision a rendered document records.

`shoal render` and the other local commands stamp documents with the HEAD commit
of the fleet repository when it is a git working copy, else "working-tree". (The
controller's git source knows its exact commit and passes that instead.)
"""

from __future__ import annotations

from pathlib import Path

from controller.gitcli import GitFailed, git_text

WORKING_TREE = "working-tree"


def working_revision(root: Path) -> str:
    """HEAD's commit sha of the git repository at `root`, or "working-tree"."""
    try:
        sha = git_text("rev-parse", "--verify", "--quiet", "HEAD", cwd=root, timeout=30)
    except GitFailed:  # not a git working copy (or no git): the files as they are
        return WORKING_TREE
    return sha if len(sha) == 40 else WORKING_TREE
