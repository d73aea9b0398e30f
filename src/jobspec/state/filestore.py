"""The file store: state in a local file, kept whole across crashes and concurrent runs.

Owns the state files and their lock, and nothing else: `FileStateStore` and its session
implement the protocols of `protocols`, with the records of `journal` and the document of
`snapshot`. No other module opens these files.

Files, for a state path P (default `jobspec.state.json`):

    P            snapshot: the whole state at some serial; rewritten only at checkpoints
    P.journal    JSON lines appended since that snapshot: a header, then one record per write
    P.backup     the previous snapshot (a hard link to it, or a copy where links fail)
    P.lock       the lock holder as JSON; liveness is an flock(2) held on this file

Why a journal: the applier saves after every completed step. Rewriting a 1 MB snapshot a
thousand times is a gigabyte of writes and a thousand renames; one appended line and an
fdatasync per step is a few hundred bytes. The journal is folded into a new snapshot (a
*checkpoint*) when the lock is released and whenever it reaches `checkpoint_lines` records.

Serial: every journal record (intent, done, abandon, put, remove) is one write to the state
and bumps the serial by one. Records carry their serial and replay insists on no gaps, so a
journal written by two processes at once is detected, not merged.

Pending intents (recorded, with no `done` or `abandon` yet) are part of the state: a
checkpoint writes them into the snapshot's `pending_intents`, so compaction never drops one.

Crash safety, the argument:
1. A record is committed when its line, newline included, is on disk (write + fdatasync),
   before the call returns, so before the applier makes the API call an intent announces.
   Group commit (`GroupCommit`, what the applier uses) only moves that wait: inside
   `deferred_sync()` a write appends its line and returns, and `await sync()` returns once
   every line appended so far is on disk, one fdatasync in a worker thread serving every
   task waiting at that moment. The applier awaits it before each API call and after each
   completion, so no call is sent before its intent is durable, and the event loop keeps
   serving the other tasks' HTTP while the disk works.
2. A kill mid-append tears at most the last line; a power loss may leave every line since
   the last sync zeroed, garbage or with holes. Each line carries a checksum and the serial
   its writer knew to be durable (`journal`), so reading keeps the records before the first
   bad line when no intact line vouches for it (it was never synced, and no call was sent on
   its strength), and refuses damage a later line says was synced. The next lock holder
   truncates the dropped tail, fsyncs what it keeps, and only then appends.
3. A checkpoint hard-links the old snapshot to a temp name, writes the new one to a temp file
   in P's directory, fsyncs it, renames it over P and fsyncs the directory; then it renames
   the old one to P.backup and deletes the journal. rename(2) is atomic, so P is always one
   whole snapshot, and P.backup changes only after a new P is safely in place.
4. The journal header names its lineage and the serial it continues from. A journal left
   behind by a crash between rename and delete is recognised (it starts before the snapshot's
   serial and ends at or before it: a power loss may have dropped its unsynced last lines,
   which the snapshot holds), ignored and removed; every other mismatch is an error, never a guess.
Hence at every instant P (or nothing, before the first checkpoint) plus P.journal reads back
as the state after the last committed record. Temp files a crash leaves are removed by the
next lock holder. Errors found while reading never write anything (the backup least of all).

Locking is `lockfile`'s: flock(2) on P.lock (on Windows, msvcrt.locking: see `oslock`), so
the kernel frees the lock when its holder dies (even by SIGKILL); a lock naming another host
is never taken over. Runners on different machines should share state through the PostgreSQL
backend, not through a shared file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobspec.errors import StateError
from jobspec.files import OS, FileSystem, atomic_write, read_regular
from jobspec.state.journal import (
    JOURNAL_VERSION,
    Journal,
    dumps_header,
    dumps_line,
    replay,
    scan_journal,
)
from jobspec.state.lockfile import HeldLock, LockFile, file_identity
from jobspec.state.protocols import StateSession
from jobspec.state.session import DEFAULT_CHECKPOINT_LINES, JournalSession, closing_session
from jobspec.state.snapshot import dumps_state, parse_snapshot
from jobspec.state.values import DEFAULT_STATE_PATH, LockInfo, State, WorkingState

__all__ = ["SERIAL_EPOCH", "FileStateStore", "Restored"]


def _unreadable(path: Path, exc: OSError) -> StateError:
    what = (
        "is a directory"
        if isinstance(exc, IsADirectoryError)
        else f"cannot be read: {exc.strerror}"
    )
    return StateError(
        f"state file {path} {what}",
        hint="--state (or `state` in jobspec.toml) names the state file itself, "
        "e.g. state/jobspec.state.json",
    )


SERIAL_EPOCH = 1_000_000
"""A restore starts the state's serial at the next multiple of this (a new epoch)."""


@dataclass(frozen=True)
class Restored:
    """What `restore_backup` did: the state now, the backup's own serial, the files kept."""

    state: State
    backup_serial: int
    kept: list[Path]


@dataclass
class _Loaded:
    working: WorkingState
    journal: Journal | None
    journal_live: bool  # its records are not in the snapshot yet


class FileStateStore:
    """State in a local file, with a journal, a backup and an flock-based lock.

    `checkpoint_lines`: fold the journal into a new snapshot once it holds this many records.
    `sync=False` skips fsync/fdatasync (every other step stays the same): for tests and
    benchmarks only, since a power cut may then lose committed records.
    `fs` is the file-system seam every change to the state files goes through (writes,
    syncs, truncates, links, renames, unlinks); a test passes its own to record them, count
    or delay the syncs, or make one fail. The lock file is not part of it: a crash frees it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_STATE_PATH,
        *,
        checkpoint_lines: int = DEFAULT_CHECKPOINT_LINES,
        sync: bool = True,
        clock: Callable[[], float] = time.time,
        fs: FileSystem = OS,
    ) -> None:
        if checkpoint_lines < 1:
            raise ValueError("checkpoint_lines must be at least 1")
        # The real path: a state shared through symlinks is one file with one lock, and the
        # atomic rename replaces the file itself, not the link that leads to it.
        self.path = Path(os.path.realpath(path))
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_file = LockFile(self.lock_path, state_path=self.path, sync=sync)
        self.checkpoint_lines = checkpoint_lines
        self.sync = sync
        self.clock = clock
        self.fs = fs

    @property
    def location(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"FileStateStore({str(self.path)!r})"

    # reading -------------------------------------------------------------------------------

    def read(self) -> State:
        """The current state (snapshot + journal). Takes no lock: a concurrent writer is fine."""
        return self._load().working.freeze()

    def _load(self) -> _Loaded:
        # A checkpoint may replace the snapshot between our reads of it and of the journal;
        # the snapshot is only ever replaced (never written in place), so a changed inode
        # means "read both again".
        for _ in range(10):
            snapshot_text, before = self._read_snapshot_text()
            journal_data = self._read_bytes(self.journal_path)
            after = self._snapshot_identity()
            if before == after:
                return self._combine(snapshot_text, journal_data)
        raise StateError(
            f"state file {self.path} kept changing while it was read",
            hint="another jobspec is writing it heavily; try again",
        )

    def _read_snapshot_text(self) -> tuple[str | None, tuple[int, int] | None]:
        try:
            data, status = read_regular(self.path)
            identity = file_identity(status)
        except FileNotFoundError:
            return None, None
        except OSError as exc:  # a directory, no permission, …: the user's to fix
            raise _unreadable(self.path, exc) from None
        try:
            return data.decode("utf-8"), identity
        except UnicodeDecodeError as exc:
            raise StateError(
                f"state file {self.path} is not UTF-8 text (bad byte at offset {exc.start})",
                hint=self._backup_hint(),
            ) from None

    def _snapshot_identity(self) -> tuple[int, int] | None:
        try:
            return file_identity(os.stat(self.path))
        except FileNotFoundError:
            return None

    @staticmethod
    def _read_bytes(path: Path) -> bytes | None:
        try:
            return read_regular(path)[0]
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unreadable(path, exc) from None

    def _backup_hint(self) -> str:
        if self.backup_path.exists():
            return (
                f"the previous version is kept at {self.backup_path}; if it looks right, "
                "restore it with `jobspec state restore` (the damaged files are kept aside, "
                "and plans saved before it no longer apply)"
            )
        return f"no backup exists beside it ({self.backup_path}); repair the file by hand"

    def _journal_hint(self) -> str:
        return (
            f"the snapshot {self.path} is intact; moving {self.journal_path} aside loses only "
            "the changes recorded since the last checkpoint (the next plan shows them as drift)"
        )

    def _combine(self, snapshot_text: str | None, journal_data: bytes | None) -> _Loaded:
        if snapshot_text is None:
            working = WorkingState()
        else:
            working = parse_snapshot(snapshot_text, source=str(self.path), hint=self._backup_hint())
        source, hint = str(self.journal_path), self._journal_hint()
        journal = (
            None if journal_data is None else scan_journal(journal_data, source=source, hint=hint)
        )
        if journal is None:
            return _Loaded(working, journal, journal_live=False)
        if snapshot_text is not None and journal.lineage != working.lineage:
            raise StateError(
                f"journal {source} belongs to lineage {journal.lineage}, but the state file "
                f"{self.path} is lineage {working.lineage}",
                hint="the journal was left by another state; move it aside",
            )
        last_serial = journal.base_serial + len(journal.records)
        if journal.base_serial == working.serial:
            if snapshot_text is None:
                working.lineage = journal.lineage
            replay(working, journal.records, source=source, hint=hint)
            return _Loaded(working, journal, journal_live=bool(journal.records))
        if journal.base_serial < working.serial and last_serial <= working.serial:
            # A crash between writing a snapshot and deleting the journal it folded in. The
            # journal may end short of the snapshot: a checkpoint inside a group commit folds
            # in records that were appended but not yet synced, which a power loss then drops.
            return _Loaded(working, journal, journal_live=False)
        raise StateError(
            f"journal {source} continues from serial {journal.base_serial}, but the state file "
            f"{self.path} is at serial {working.serial}"
            + (" (missing)" if snapshot_text is None else ""),
            hint="was the state file restored from a backup? then move the journal aside, "
            "accepting that its changes are lost (the next plan shows them as drift)",
        )

    # locking -------------------------------------------------------------------------------

    @contextmanager
    def lock(
        self,
        *,
        timeout: float = 0,
        operation: str,
        on_wait: Callable[[LockInfo], None] | None = None,
    ) -> Iterator[StateSession]:
        """Hold the lock for the block and yield a session on the current state.

        timeout 0 fails at once with a `LockError` naming the holder; otherwise polls until
        `timeout` seconds have passed, calling `on_wait(holder)` once when it starts waiting.
        A lock left by a dead process on this host is taken over, with a line in
        `session.warnings`. On exit the journal is checkpointed and the lock released.
        """
        held, warnings = self._lock_file.acquire(
            timeout=timeout, operation=operation, on_wait=on_wait
        )
        try:
            session = _FileSession(self, held, warnings)
        except BaseException:
            self._lock_file.release(held)
            raise
        try:
            with closing_session(session):
                yield session
        finally:
            self._lock_file.release(held)

    def restore_backup(self, *, timeout: float = 0) -> Restored:
        """Make the backup the state again, in a new serial epoch (`jobspec state restore`).

        Under the lock, without reading the current state through a session (it may be the
        damaged thing being replaced). The backup's content is written at the first serial of
        the next epoch (a multiple of `SERIAL_EPOCH`) above every serial still readable here,
        so no plan saved before the restore matches it, even one made against a state that
        can no longer be read: a snapshot and its journal never get `SERIAL_EPOCH` records
        ahead of the backup (checkpoints come every `checkpoint_lines`). The snapshot and
        journal it replaces are kept beside it (`P.before-restore-TIME`, `….journal…`).
        """
        if not self.backup_path.exists():
            raise StateError(
                f"there is no backup at {self.backup_path} to restore",
                hint="a backup is kept from the second checkpoint on; nothing was changed",
            )
        held, _ = self._lock_file.acquire(timeout=timeout, operation="state restore", on_wait=None)
        try:
            try:
                text = read_regular(self.backup_path)[0].decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise StateError(
                    f"the backup {self.backup_path} cannot be read: {exc}",
                    hint="nothing was changed",
                ) from None
            backup = parse_snapshot(
                text, source=str(self.backup_path), hint="the backup cannot be restored"
            ).freeze()
            seen = [backup.serial, *self._readable_serials()]
            serial = (max(seen) // SERIAL_EPOCH + 1) * SERIAL_EPOCH
            restored = dataclasses.replace(backup, serial=serial)
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.clock()))
            kept = []
            for path in (self.path, self.journal_path):
                if path.exists():
                    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
                    self.fs.replace(path, aside)
                    kept.append(aside)
            self._lock_file.check_held(held)
            atomic_write(self.path, [dumps_state(restored).encode()], sync=self.sync, fs=self.fs)
            return Restored(state=restored, backup_serial=backup.serial, kept=kept)
        finally:
            self._lock_file.release(held)

    def _readable_serials(self) -> list[int]:
        """Every serial the current snapshot and journal still show, read as far as they go."""
        serials: list[int] = []
        try:
            serials.append(self._load().working.serial)
        except StateError:
            with suppress(StateError, OSError, UnicodeDecodeError):
                text = read_regular(self.path)[0].decode("utf-8")
                serials.append(parse_snapshot(text, source="", hint=None).serial)
            with suppress(StateError, OSError):
                data = read_regular(self.journal_path)[0]
                journal = scan_journal(data, source="", hint="")
                if journal is not None:
                    serials.append(journal.base_serial + len(journal.records))
        return serials

    def lock_info(self) -> LockInfo | None:
        """The holder named in the lock file, if any (it may be stale)."""
        return self._lock_file.holder()

    def unlock(self, lock_id: str) -> LockInfo:
        """Break the lock on purpose, if `lock_id` is the lock's id. Returns who held it.

        A live holder notices at its next write (LockError) and stops writing.
        """
        return self._lock_file.unlock(lock_id)

    # writing (only with the lock held) ------------------------------------------------------

    def _write_snapshot(self, state: State) -> None:
        """Replace the snapshot atomically; the one it replaces becomes the backup.

        The old snapshot is hard-linked (or copied) to a temp name first and renamed to the
        backup only once the new snapshot is in place, so a failed write changes neither.
        """
        data = dumps_state(state).encode()
        previous: Path | None = None
        try:
            previous = self._keep_current_snapshot()
            atomic_write(self.path, [data], sync=self.sync, fs=self.fs)
            if previous is not None:
                self.fs.replace(previous, self.backup_path)
                previous = None
        except OSError as exc:
            raise StateError(
                f"could not write the state file {self.path}: {exc.strerror or exc}",
                hint=f"nothing was lost: {self.path} and {self.journal_path.name} still hold "
                "every change; free space or fix permissions and run again",
            ) from exc
        finally:
            if previous is not None:
                with suppress(FileNotFoundError):
                    self.fs.unlink(previous)

    def _keep_current_snapshot(self) -> Path | None:
        """A temp name for the current snapshot (a hard link, else a copy); None if none yet."""
        temp = self.backup_path.with_name(f"{self.backup_path.name}.tmp-{uuid.uuid4().hex[:12]}")
        try:
            self.fs.link(self.path, temp)
        except FileNotFoundError:
            return None
        except OSError:  # no hard links here (some network and FAT file systems)
            try:
                data = read_regular(self.path)[0]
            except FileNotFoundError:
                return None
            try:
                fd = self.fs.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                try:
                    self.fs.write(fd, data)
                    if self.sync:
                        self.fs.fsync(fd)
                finally:
                    self.fs.close(fd)
            except BaseException:
                with suppress(FileNotFoundError):
                    self.fs.unlink(temp)
                raise
        return temp

    def _remove_leftovers(self) -> None:
        """Temp files of writes that a crash interrupted."""
        prefixes = (f"{self.path.name}.tmp-", f"{self.backup_path.name}.tmp-")
        for name in os.listdir(self.path.parent):
            if name.startswith(prefixes):
                with suppress(FileNotFoundError):
                    self.fs.unlink(self.path.parent / name)


class _FileSession(JournalSession):
    """The state under the file lock. Each write is one journal line, durable on return."""

    @property
    def _where(self) -> str:
        return str(self._store.path)

    def _now(self) -> float:
        return self._store.clock()

    def __init__(self, store: FileStateStore, held: HeldLock, warnings: list[str]) -> None:
        self._store = store
        self._held = held
        self._warnings = warnings
        self._mutex = threading.RLock()
        self._closed = False
        self._broken = False
        self._fd: int | None = None
        self._cached: State | None = None
        loaded = store._load()
        self._working = loaded.working
        store._remove_leftovers()
        self._journal_exists = False
        self._journal_size = 0
        self._journal_records = 0
        self._deferred = False  # inside deferred_sync(): append now, fdatasync in sync()
        self._appended = 0  # bytes appended in this session, across checkpoints
        self._synced = 0  # of those, bytes known to be on disk
        self._appended_serial = 0  # the serial of the last record appended
        self._durable_serial = 0  # the serial through which the journal is known on disk
        self._syncing: asyncio.Future[None] | None = None
        journal = loaded.journal
        if journal is not None and loaded.journal_live:
            self._journal_exists = True
            self._journal_records = len(journal.records)
            self._journal_size = journal.good_size
            # Cut what was never committed, and make what is kept durable before a record
            # of this session says so (a killed writer's last lines may be in the page cache).
            self._truncate_torn_tail(journal.good_size)
            if journal.dropped:
                self._warnings.append(
                    f"dropped the last {journal.dropped} bytes of the journal "
                    f"{store.journal_path}: written but never synced (a crash or power loss "
                    "during the last run); every step synced before it is kept"
                )
        elif store.journal_path.exists():
            # Empty, torn before its header, or already folded into the snapshot.
            store.fs.unlink(store.journal_path)
            if store.sync:
                store.fs.fsync_dir(store.path.parent)
        self._appended_serial = self._durable_serial = self._working.serial
        if journal is not None and loaded.journal_live and journal.version < JOURNAL_VERSION:
            self.checkpoint()  # an older jobspec's journal: fold it in, never append to it

    @property
    def lock_info(self) -> LockInfo:
        return self._held.info

    def checkpoint(self) -> None:
        """Fold the journal into a new snapshot (the old one becomes the backup)."""
        with self._mutex:
            self._require_open()
            if not self._journal_exists:
                return
            store = self._store
            store._lock_file.check_held(self._held)
            store._write_snapshot(self.state)
            self._close_fd()
            # From here a crash leaves a journal already folded in, recognised by its serials.
            store.fs.unlink(store.journal_path)
            if store.sync:
                store.fs.fsync_dir(store.path.parent)
            self._journal_exists = False
            self._journal_size = 0
            self._journal_records = 0
            self._synced = self._appended  # the snapshot, fsynced, holds every record
            self._durable_serial = self._appended_serial = self._working.serial

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Writes in this block append without waiting for the disk; `await sync()` does.

        On the way out, anything still unsynced is made durable before the block ends.
        """
        with self._mutex:
            if self._deferred:
                raise RuntimeError("deferred_sync() does not nest")
            self._deferred = True
        try:
            yield
        finally:
            with self._mutex:
                self._deferred = False
                unsynced = self._synced < self._appended and self._fd is not None
                if unsynced and self._store.sync and not self._broken:
                    assert self._fd is not None
                    self._store.fs.datasync(self._fd)
                self._synced = self._appended
                self._durable_serial = self._appended_serial

    async def sync(self) -> None:
        """Return once every record appended so far is on disk (group commit).

        The fdatasync runs in a worker thread, so the event loop serves other tasks meanwhile;
        callers arriving during a sync wait for it and, if they appended after it started,
        for one more sync that covers them all.
        """
        target = self._appended
        while self._synced < target:
            if self._broken:
                # After a failed fdatasync a second one may succeed with the data lost (Linux
                # drops the dirty pages): nothing appended before it counts as durable.
                raise StateError(
                    f"a sync of the journal {self._store.journal_path} failed; "
                    "what was written since is not known to be on disk",
                    hint="run again once the disk is healthy",
                )
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._sync_once())
            await asyncio.shield(self._syncing)

    async def _sync_once(self) -> None:
        try:
            with self._mutex:
                upto, upto_serial = self._appended, self._appended_serial
                if not self._store.sync or self._fd is None:  # nothing to sync, or folded in
                    self._synced = max(self._synced, upto)
                    self._durable_serial = max(self._durable_serial, upto_serial)
                    return
                fd = os.dup(self._fd)  # a checkpoint may close the session's own fd meanwhile
            try:
                await asyncio.to_thread(self._store.fs.datasync, fd)
            except OSError as exc:
                self._broken = True
                journal = self._store.journal_path
                raise StateError(
                    f"could not sync the journal {journal}: {exc.strerror or exc}",
                    hint="recent changes may not be on disk; run again once the disk is healthy",
                ) from exc
            finally:
                os.close(fd)
            self._synced = max(self._synced, upto)
            self._durable_serial = max(self._durable_serial, upto_serial)
        finally:
            self._syncing = None

    def replace(self, state: State) -> None:
        """Make `state` the whole state (lineage, serial, entries, pending intents) at once.

        For `jobspec state push` / `pull`. The journal is folded in first, then the snapshot
        is replaced atomically (the old one becomes the backup), so a crash at any point
        leaves the old state or the new one.
        """
        if state.lineage is None:
            raise ValueError("replace() needs a state with a lineage")
        with self._mutex:
            self.checkpoint()
            self._store._lock_file.check_held(self._held)
            self._store._write_snapshot(state)
            self._become(state)

    def _release(self) -> None:
        self._close_fd()

    # internals -------------------------------------------------------------------------------

    def _wrote(self) -> None:
        self._working.serial += 1
        self._cached = None
        if self._checkpoint_due(self._journal_records, self._store.checkpoint_lines):
            self.checkpoint()

    def _write(self, record: dict[str, Any]) -> None:
        """Append one record and make it durable, or leave the journal as it was."""
        line = dumps_line(record, durable=self._durable_serial).encode()
        store = self._store
        if self._broken:
            raise StateError(
                f"the journal {store.journal_path} may end in a torn line after a failed write; "
                "this run stops writing",
                hint="run again: the next run repairs the journal's end before writing",
            )
        store._lock_file.check_held(self._held)
        try:
            fd = self._journal_fd()
            store.fs.write(fd, line)
            if store.sync and not self._deferred:
                store.fs.datasync(fd)
        except OSError as exc:
            if self._fd is not None:
                try:
                    self._truncate_torn_tail(self._journal_size)
                except OSError:
                    self._broken = True
            raise StateError(
                f"could not append to the journal {store.journal_path}: {exc.strerror or exc}",
                hint="this change was not recorded; free space or fix permissions and run again",
            ) from exc
        self._journal_size += len(line)
        self._journal_records += 1
        self._appended += len(line)
        self._appended_serial = record["serial"]
        if not self._deferred:
            self._synced = self._appended
            self._durable_serial = self._appended_serial

    def _journal_fd(self) -> int:
        if self._fd is not None:
            return self._fd
        store = self._store
        if self._journal_exists:
            self._fd = store.fs.open(store.journal_path, os.O_WRONLY | os.O_APPEND)
            return self._fd
        lineage = self._working.lineage or str(uuid.uuid4())
        data = dumps_header(lineage=lineage, base_serial=self._working.serial).encode()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
        fd = store.fs.open(store.journal_path, flags, 0o644)
        try:
            store.fs.write(fd, data)
            if store.sync:
                store.fs.datasync(fd)
                store.fs.fsync_dir(store.path.parent)
        except BaseException:
            store.fs.close(fd)
            with suppress(FileNotFoundError):
                store.fs.unlink(store.journal_path)
            raise
        self._fd = fd
        self._journal_exists = True
        self._journal_size = len(data)
        self._working.lineage = lineage
        return fd

    def _truncate_torn_tail(self, size: int) -> None:
        fs = self._store.fs
        fd = fs.open(self._store.journal_path, os.O_WRONLY)
        try:
            fs.truncate(fd, size)
            if self._store.sync:
                fs.fsync(fd)
        finally:
            fs.close(fd)

    def _close_fd(self) -> None:
        if self._fd is not None:
            self._store.fs.close(self._fd)
            self._fd = None
