"""Small file-system helpers: replacing a file all or nothing, and making writes durable.

Kept apart from the state store because more than one module writes files that must never be
seen half-written (the state snapshot, plan files, `jobspec import`'s specs).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path

__all__ = ["atomic_write", "datasync", "fsync_dir", "write_all"]

datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)
"""Flush a file's data to disk (fdatasync where the platform has it, else fsync)."""


def atomic_write(
    path: Path, chunks: Iterable[bytes], *, sync: bool = True, replace: bool = True
) -> None:
    """Replace `path` with the bytes of `chunks`, all or nothing.

    The temp file sits in the same directory (rename is only atomic within one file system),
    is fsynced before the rename and the directory after it. If writing fails at any point,
    including inside `chunks`, the temp file is removed and `path` keeps its old content.
    With `replace=False` an existing `path` is never overwritten (FileExistsError), even by
    a file that appeared while this one was written: the temp file is hard-linked into place.
    """
    temp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)
            os.unlink(temp)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if sync:
        fsync_dir(path.parent)


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


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd`, however many short writes that takes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
