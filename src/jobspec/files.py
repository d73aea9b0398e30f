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

import errno
import os
import stat
import sys
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path

__all__ = [
    "BINARY",
    "OS",
    "FileRefused",
    "FileSystem",
    "atomic_write",
    "datasync",
    "fsync_dir",
    "read_regular",
    "write_all",
]

BINARY: int = getattr(os, "O_BINARY", 0)
"""`os.O_BINARY` on Windows (no newline translation), 0 elsewhere."""

datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)
"""Flush a file's data to disk (fdatasync where the platform has it, else fsync)."""


MAX_READ = 512 * 1024 * 1024
"""Half a GiB: more than any state, journal or plan file jobspec writes (10,000 addresses are
a few MB); a bigger one (or an endless device) is refused before memory runs out."""

_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)


class FileRefused(OSError):
    """A file jobspec reads whole that is not a regular file, or is too big to be one of its own.

    An OSError, with `strerror` saying which, so callers report it like any unreadable file.
    """


def read_regular(path: Path, *, limit: int = MAX_READ) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file at `path` (symbolic links followed), and its stat.

    A FIFO, device, socket or directory is refused before any read (opening a FIFO does not
    wait for a writer), and a file over `limit` bytes while it is read: `/dev/zero` or a FIFO
    put in a state file's place ends in a clear error, not a hang or a MemoryError.
    """
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | BINARY)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(status.st_mode)
                else "a FIFO"
                if stat.S_ISFIFO(status.st_mode)
                else "a device or socket"
            )
            raise FileRefused(errno.EINVAL, f"not a regular file (it is {kind})", str(path))
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileRefused(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        return b"".join(chunks), status
    finally:
        os.close(fd)


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
