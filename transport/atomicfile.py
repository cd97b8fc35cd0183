"""Crash-safe file replacement: a reader, or the next start, sees the old or the new file.

Both sides keep state that must survive a crash or a power loss whole: the
controller's ledger of issued generations (`controller/service/ledger.py`) and the
edge's accepted document and inventory (`edge/store.py`). `replace_atomically`
writes a hidden temporary file next to the target, fsyncs it, renames it over the
target and fsyncs the directory, so the rename itself is durable too (without that,
a power loss can bring back the old file: for the ledger, generations already used).
`sync_folder` does that last step alone, after a rename or removal of one's own (the
edge's agent dir switching versions).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def replace_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new content.

    The folder must exist. On any error the temporary file is removed and the old
    content stays.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename, a new symlink or a removal in `folder` durable (fsync the folder)."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
