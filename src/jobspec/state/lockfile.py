"""The file store's lock file, P.lock: an flock(2) on it says the holder is alive, and the
JSON inside names the holder.

The kernel frees an flock when its holder dies (even by SIGKILL); the JSON left behind then
names the dead holder, who is reported and replaced. On network file systems flock may be
local to one machine, so a lock whose JSON names another host is never taken over: it is
treated as live until its holder removes it or someone runs `jobspec unlock ID`. Waiting for
the lock is `lockwait.wait_for_lock`, as for every store.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from jobspec.errors import LockError, StateError
from jobspec.files import BINARY
from jobspec.state.lockwait import wait_for_lock
from jobspec.state.oslock import LockUnsupported, read_at, try_lock, write_at
from jobspec.state.values import LockInfo

__all__ = ["HeldLock", "LockFile", "file_identity"]


def file_identity(stat: os.stat_result) -> tuple[int, int]:
    """Which file a path or descriptor is: the same (device, inode) is the same file."""
    return (stat.st_dev, stat.st_ino)


def _read_lock_fd(fd: int) -> tuple[LockInfo | None, bool]:
    """The holder recorded in an open lock file, and whether the file had any content."""
    data = read_at(fd, 65536, 0)
    if not data.strip():
        return None, False
    try:
        raw = json.loads(data)
        info = LockInfo(
            id=str(raw["id"]),
            holder=str(raw["holder"]),
            host=str(raw["host"]),
            pid=int(raw["pid"]),
            operation=str(raw["operation"]),
            created_at=str(raw["created_at"]),
        )
    except (ValueError, TypeError, KeyError):
        return None, True
    return info, True


@dataclass
class HeldLock:
    """A lock this process holds: its open file (closing it drops the flock), which file
    that is, and the holder written in it."""

    fd: int
    identity: tuple[int, int]
    info: LockInfo


@dataclass
class _Busy:
    info: LockInfo | None
    foreign_stale: bool  # flock free, but the holder is on another host


NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
"""0 on Windows, where creating a symbolic link takes privileges jobspec's users lack."""
NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
"""So that opening a FIFO put in the lock file's place does not wait for a writer."""


def _open_lock(path: Path, flags: int) -> int:
    """Open the lock file, never through a symbolic link (whose target a write would
    overwrite), and only if it is a regular file (a FIFO or device is refused, not waited on)."""
    try:
        fd = os.open(path, flags | NOFOLLOW | NONBLOCK | BINARY, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateError(
                f"the lock file {path} is a symbolic link; refused (a lock write would "
                "overwrite what it points to)",
                hint=f"delete the link {path} (no jobspec is using it), then run again",
            ) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StateError(
            f"the lock file {path} is not a regular file; refused",
            hint=f"remove {path} (a lock file is an ordinary file jobspec creates), then run again",
        )
    return fd


class LockFile:
    """The lock file at `path` of the state file `state_path` (named in messages)."""

    def __init__(self, path: Path, *, state_path: Path, sync: bool) -> None:
        self.path = path
        self.state_path = state_path
        self.sync = sync

    def holder(self) -> LockInfo | None:
        """The holder named in the lock file, if any (it may be stale)."""
        try:
            fd = _open_lock(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return _read_lock_fd(fd)[0]
        finally:
            os.close(fd)

    def unlock(self, lock_id: str) -> LockInfo:
        """Break the lock on purpose, if `lock_id` is the lock's id. Returns who held it.

        A live holder notices at its next write (LockError) and stops writing.
        """
        try:
            fd = _open_lock(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise StateError(f"state {self.state_path} is not locked") from None
        try:
            info, had_content = _read_lock_fd(fd)
            if info is None:
                raise StateError(
                    f"lock file {self.path} names no holder"
                    + (" (unreadable content)" if had_content else " (empty)"),
                    hint="someone may be taking the lock right now; if no jobspec is "
                    f"running, delete {self.path} by hand",
                )
            if info.id != lock_id:
                raise StateError(
                    f"lock id {lock_id} is not the lock on {self.state_path}: that is {info.id}, "
                    f"held by {info.describe()}",
                    hint=f"to break it: jobspec unlock {info.id}",
                )
            with suppress(FileNotFoundError):
                if file_identity(os.stat(self.path)) == file_identity(os.fstat(fd)):
                    os.unlink(self.path)
            return info
        finally:
            os.close(fd)

    def acquire(
        self,
        *,
        timeout: float,
        operation: str,
        on_wait: Callable[[LockInfo], None] | None,
    ) -> tuple[HeldLock, list[str]]:
        """Take the lock, waiting up to `timeout` seconds (`wait_for_lock`); the held lock and
        the warnings to show (a stale lock taken over)."""
        host = socket.gethostname()
        return wait_for_lock(
            lambda: self._try_acquire(operation=operation, host=host),
            timeout=timeout,
            locked_error=lambda busy: self._locked_error(busy, host=host),
            holder=lambda busy: busy.info,
            on_wait=on_wait,
        )

    def _try_acquire(
        self, *, operation: str, host: str
    ) -> tuple[_Busy | None, tuple[HeldLock, list[str]] | None]:
        """One attempt. (busy, None) when held; (None, None) on a race; (None, held) on success."""
        try:
            fd = _open_lock(self.path, os.O_RDWR | os.O_CREAT)
        except StateError:
            raise
        except OSError as exc:
            raise StateError(
                f"cannot open the lock file {self.path}: {exc.strerror}",
                hint=f"the state's directory {self.state_path.parent} must exist and be writable",
            ) from exc
        try:
            try:
                if not try_lock(fd):
                    return _Busy(_read_lock_fd(fd)[0], foreign_stale=False), None
            except LockUnsupported as exc:
                raise StateError(
                    f"cannot lock {self.path}: {exc.strerror}",
                    hint="this file system does not support flock; keep state on a local disk",
                ) from exc
            identity = file_identity(os.fstat(fd))
            try:
                current: tuple[int, int] | None = file_identity(os.stat(self.path))
            except FileNotFoundError:
                current = None
            if current != identity:
                return None, None
            previous, had_content = _read_lock_fd(fd)
            if previous is not None and previous.host != host:
                return _Busy(previous, foreign_stale=True), None
            warnings: list[str] = []
            if previous is not None:
                warnings.append(
                    f"took over a stale lock: its holder {previous.describe()} is gone "
                    "(its process no longer holds the lock); check the plan for unfinished work"
                )
            elif had_content:
                warnings.append(f"took over a lock file {self.path} with unreadable content")
            info = LockInfo.for_this_process(operation=operation, host=host)
            os.ftruncate(fd, 0)
            write_at(fd, (json.dumps(info.to_json(), indent=2) + "\n").encode(), 0)
            if self.sync:
                os.fsync(fd)
            held, fd = HeldLock(fd, identity, info), -1  # the held lock owns fd now
            return None, (held, warnings)
        finally:
            if fd >= 0:
                os.close(fd)

    def _locked_error(self, busy: _Busy, *, host: str) -> LockError:
        if busy.info is None:
            return LockError(
                f"state {self.state_path} is locked (the holder is still writing its name)",
                hint="retry, or wait with --lock-timeout",
            )
        if busy.foreign_stale:
            return LockError(
                f"state {self.state_path} is locked by {busy.info.describe()} on another host "
                f"({busy.info.host}, this is {host}); its liveness cannot be checked from here",
                hint=f"if that run is gone for sure: jobspec unlock {busy.info.id}",
            )
        return LockError(
            f"state {self.state_path} is locked by {busy.info.describe()}",
            hint="wait for it (--lock-timeout SECONDS); if it is gone for sure: "
            f"jobspec unlock {busy.info.id}",
        )

    def still_held(self, held: HeldLock) -> bool:
        try:
            return file_identity(os.stat(self.path)) == held.identity
        except FileNotFoundError:
            return False

    def check_held(self, held: HeldLock) -> None:
        if not self.still_held(held):
            raise LockError(
                f"the lock on {self.state_path} (id {held.info.id}) was broken while this run "
                "held it; stopped before writing",
                hint="someone ran `jobspec unlock`; another run may own the state now: plan again",
            )

    def release(self, held: HeldLock) -> None:
        try:
            if self.still_held(held):
                with suppress(FileNotFoundError):
                    os.unlink(self.path)
        finally:
            os.close(held.fd)  # closing drops the flock
