"""Reading files of one app's folder, and nothing outside it.

`templating.compile_app` reads the templates through an `AppFolder`, and the sandbox
(`controller.render.sandbox`) gives templates its `read` as `file("files/x.conf")`:
a path that is absolute, has `..`, or leads out through a symlink is refused
(`TemplateFileError`). With a `Snapshot` (`controller.render.rendercache`) the files
come from it rather than the disk.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path, PurePosixPath

from shadow.errors import BadInput


class TemplateFileError(BadInput):
    """`file(...)` was asked for something outside the app folder or missing."""


# An app folder's contents read at once: file -> bytes, subfolder (`files/`) -> None.
Snapshot = dict[str, bytes | None]


class AppFolder:
    """Reads files from one app's folder, refusing anything that would leave it.

    With a `snapshot` (`controller.render.rendercache`) the files come from it rather than
    the disk, so what a cached compiled app reads is what its cache key describes.
    """

    def __init__(self, app_dir: Path, rel: str, snapshot: Snapshot | None = None) -> None:
        self.dir = app_dir
        self.real = app_dir.resolve()
        self.rel = rel  # "apps/web"
        self.snapshot = snapshot
        self.cache: dict[str, str] = {}

    def path(self, relative: str) -> Path:
        if not isinstance(relative, str) or not relative:
            raise TemplateFileError("file() needs a path relative to the app folder")
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts or "\\" in relative:
            raise TemplateFileError(
                f"file({relative!r}): only files inside {self.rel}/ can be read "
                "(use a relative path without '..')"
            )
        if self.snapshot is not None:  # a snapshot has no symlinks: nothing to resolve
            return self.real / pure
        target = (self.dir / pure).resolve()
        if not target.is_relative_to(self.real):
            raise TemplateFileError(f"file({relative!r}): leads outside {self.rel}/ (symlink)")
        return target

    def read(self, relative: str) -> str:
        if relative not in self.cache:
            target = self.path(relative)
            try:
                if self.snapshot is not None:
                    self.cache[relative] = self.from_snapshot(self.snapshot, target)
                else:
                    self.cache[relative] = target.read_text("utf-8")
            except FileNotFoundError:
                raise TemplateFileError(
                    f"file({relative!r}): no such file {self.rel}/{relative}"
                ) from None
            except UnicodeDecodeError as exc:
                raise TemplateFileError(
                    f"file({relative!r}): not UTF-8 text (byte {exc.start}): file() reads text"
                    " files only; keep binary data base64-encoded in the file and use it as is"
                ) from exc
            except OSError as exc:
                raise TemplateFileError(f"file({relative!r}): cannot read: {exc}") from exc
        return self.cache[relative]

    def from_snapshot(self, snapshot: Snapshot, target: Path) -> str:
        """`target` as `read_text` would give it, with the same errors."""
        rel = target.relative_to(self.real).as_posix()
        if rel == "." or f"{rel}/" in snapshot:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
        data = snapshot.get(rel)
        if data is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(target))
        return decode_text(data)


def decode_text(data: bytes) -> str:
    """UTF-8 with universal newlines: what `Path.read_text("utf-8")` returns."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
