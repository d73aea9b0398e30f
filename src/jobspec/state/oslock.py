"""The operating system's own file lock and positioned I/O, for the file store's lock file.

POSIX: flock(2) on the whole file. Windows: msvcrt.locking on one byte far past the end of
the file, because Windows locks are mandatory: locking the bytes that hold the holder's name
would stop everybody else from reading who holds the lock. On both, the kernel drops the lock
when the holder closes the file or dies, which is what lets the store detect a stale lock.

Each platform's module is imported only on that platform (fcntl does not exist on Windows,
msvcrt nowhere else); `mypy --platform win32` checks the Windows side.
"""

from __future__ import annotations

import os
import sys

from jobspec.files import BINARY

__all__ = ["BINARY", "LockUnsupported", "read_at", "try_lock", "write_at"]

_WINDOWS_LOCK_OFFSET = 1 << 30  # past any lock file's content; locking past the end is allowed


class LockUnsupported(OSError):
    """The file system cannot lock this file (some network file systems)."""


if sys.platform == "win32":
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Take the exclusive lock on open file `fd` without waiting; False if it is held."""
        position = os.lseek(fd, 0, os.SEEK_CUR)
        try:
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except PermissionError:
            return False
        except OSError as exc:
            if exc.errno in (13, 36):  # EACCES, EDEADLOCK: held by another process
                return False
            raise LockUnsupported(exc.errno, exc.strerror) from exc
        finally:
            os.lseek(fd, position, os.SEEK_SET)
        return True

    def read_at(fd: int, size: int, offset: int) -> bytes:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, size)

    def write_at(fd: int, data: bytes, offset: int) -> None:
        os.lseek(fd, offset, os.SEEK_SET)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """Take the exclusive lock on open file `fd` without waiting; False if it is held."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            raise LockUnsupported(exc.errno, exc.strerror) from exc
        return True

    def read_at(fd: int, size: int, offset: int) -> bytes:
        return os.pread(fd, size, offset)

    def write_at(fd: int, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
