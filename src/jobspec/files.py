"""Small file-system helpers: replacing a file all or nothing, and making writes durable.

Kept apart from the state store because more than one module writes files that must never be
seen half-written (the state snapshot, plan files, `jobspec import`'s specs).

`FileSystem` is the one seam through which the state store changes files: every write, sync,
truncate, link, rename and unlink it makes goes through one of its methods, so the
crash-consistency tests (tests/state/test_crash_states.py) can record them and rebuild every
state a power loss could leave. `OS` is the real one; each method is the bare system call.
Files are opened in binary mode on Windows too (`BINARY`), where that is not the default.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path

__all__ = ["BINARY", "OS", "FileSystem", "atomic_write", "datasync", "fsync_dir", "write_all"]

BINARY: int = getattr(os, "O_BINARY", 0)
"""`os.O_BINARY` on Windows (no newline translation), 0 elsewhere."""

datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)
"""Flush a file's data to disk (fdatasync where the platform has it, else fsync)."""


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd`, however many short writes that takes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a create, rename or unlink in it) durable.

    A no-op on Windows, which cannot open a directory as a file (NTFS journals its entries).
    """
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileSystem:
    """The calls that change files durably; a test subclasses it to record or fail them.

    Reads are not part of it: a crash changes what is on disk, not how it is read.
    """

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        return os.open(path, flags | BINARY, mode)

    def write(self, fd: int, data: bytes) -> None:
        """Append (or write at the file offset) all of `data`."""
        write_all(fd, data)

    def datasync(self, fd: int) -> None:
        """Make the file's data durable (fdatasync, else fsync)."""
        datasync(fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def truncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def close(self, fd: int) -> None:
        os.close(fd)

    def link(self, src: Path, dst: Path) -> None:
        os.link(src, dst)

    def replace(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)

    def unlink(self, path: Path) -> None:
        os.unlink(path)

    def fsync_dir(self, directory: Path) -> None:
        fsync_dir(directory)


OS = FileSystem()
"""The real file system."""


def atomic_write(
    path: Path,
    chunks: Iterable[bytes],
    *,
    sync: bool = True,
    replace: bool = True,
    fs: FileSystem = OS,
) -> None:
    """Replace `path` with the bytes of `chunks`, all or nothing.

    The temp file sits in the same directory (rename is only atomic within one file system),
    is fsynced before the rename and the directory after it. If writing fails at any point,
    including inside `chunks`, the temp file is removed and `path` keeps its old content.
    With `replace=False` an existing `path` is never overwritten (FileExistsError), even by
    a file that appeared while this one was written: the temp file is hard-linked into place.
    """
    temp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    fd = fs.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            fs.write(fd, b"".join(chunks))
            if sync:
                fs.fsync(fd)
        finally:
            fs.close(fd)
        if replace:
            fs.replace(temp, path)
        else:
            fs.link(temp, path)
            fs.unlink(temp)
    except BaseException:
        with suppress(FileNotFoundError):
            fs.unlink(temp)
        raise
    if sync:
        fs.fsync_dir(path.parent)
