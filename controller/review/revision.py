"""Which revision a rendered document records.

`shoal render` and the other local commands stamp documents with the HEAD commit
of the fleet repository when it is a git working copy, else "working-tree". (The
controller's git source knows its exact commit and passes that instead.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

WORKING_TREE = "working-tree"


def working_revision(root: Path) -> str:
    """HEAD's commit sha of the git repository at `root`, or "working-tree"."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return WORKING_TREE
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and len(sha) == 40 else WORKING_TREE
