"""The state store: what jobspec did before, kept whole across crashes and concurrent runs.

Owns the state on disk and nothing else: the `State` value the planner reads, the `Intent`
journaled before every mutating API call, the `StateStore` / `StateSession` protocols (a
PostgreSQL backend implements the same ones later), and `FileStateStore`, the file
implementation. No other module opens these files.

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
2. A crash mid-append tears at most the last line. Reading ignores a torn last line, and the
   next lock holder truncates it before appending. A bad line anywhere else is corruption.
3. A checkpoint hard-links the old snapshot to a temp name, writes the new one to a temp file
   in P's directory, fsyncs it, renames it over P and fsyncs the directory; then it renames
   the old one to P.backup and deletes the journal. rename(2) is atomic, so P is always one
   whole snapshot, and P.backup changes only after a new P is safely in place.
4. The journal header names its lineage and the serial it continues from. A journal left
   behind by a crash between rename and delete is recognised (its records end exactly at the
   snapshot's serial), ignored and removed; every other mismatch is an error, never a guess.
Hence at every instant P (or nothing, before the first checkpoint) plus P.journal reads back
as the state after the last committed record. Temp files a crash leaves are removed by the
next lock holder. Errors found while reading never write anything (the backup least of all).

Locking uses flock(2) on P.lock, so the kernel frees the lock when its holder dies (even by
SIGKILL); the JSON left behind then names the dead holder, who is reported and replaced. On
network file systems flock may be local to one machine (CIFS, NFS with `local_lock`), so a
lock whose metadata names another host is never taken over: it is treated as live until its
holder removes it or someone runs `jobspec unlock ID`. Runners on different machines should
share state through the PostgreSQL backend, not through a shared file.
"""

from __future__ import annotations

import asyncio
import fcntl
import getpass
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import ValidationError

from jobspec.errors import LockError, StateError
from jobspec.model import StateEntry

__all__ = [
    "DEFAULT_STATE_PATH",
    "FORMAT_VERSION",
    "FileStateStore",
    "GroupCommit",
    "Intent",
    "IntentRef",
    "JournalSession",
    "LockInfo",
    "State",
    "StateSession",
    "StateStore",
    "atomic_write",
    "dumps_state",
    "loads_state",
]

FORMAT_VERSION = 1
DEFAULT_STATE_PATH = "jobspec.state.json"
DEFAULT_CHECKPOINT_LINES = 4096

_SNAPSHOT_KEYS = ("format_version", "lineage", "serial", "entries", "pending_intents")
_INTENT_KEYS = ("intent_id", "address", "op", "started_at", "details")


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """A mutating API call announced in the journal before it is made.

    `details` holds what `record_intent` was given: `target` (the job the call acts on, the
    source for a clone) and what is needed to recognise the call's effect later (the clone's
    name, …). An intent stays pending until `complete` or `abandon`; a pending intent found at
    start means a run died with the call's outcome unknown.
    """

    intent_id: str
    address: str
    op: str
    details: Mapping[str, Any]
    started_at: float

    def __hash__(self) -> int:
        return hash(self.intent_id)

    @property
    def target(self) -> str | None:
        """The job id the call acts on (`details["target"]`), if one was given."""
        value = self.details.get("target")
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "intent_id": self.intent_id,
            "address": self.address,
            "op": self.op,
            "started_at": self.started_at,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or held) the state lock."""

    id: str
    holder: str
    host: str
    pid: int
    operation: str
    created_at: str

    def describe(self) -> str:
        return (
            f"{self.holder} (pid {self.pid}, `{self.operation}`, since {self.created_at}, "
            f"lock id {self.id})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "holder": self.holder,
            "host": self.host,
            "pid": self.pid,
            "operation": self.operation,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class State:
    """The state at one serial. `lineage` is None until the first write ("nothing applied yet")."""

    format_version: int = FORMAT_VERSION
    lineage: str | None = None
    serial: int = 0
    entries: Mapping[str, StateEntry] = field(default_factory=dict)
    pending: tuple[Intent, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", MappingProxyType(dict(self.entries)))

    def pending_intents(self) -> list[Intent]:
        """Intents recorded with no `done` or `abandon`: calls whose outcome is unknown."""
        return list(self.pending)

    def check_lineage(self, expected: str | None, *, what: str = "the plan") -> None:
        """Refuse a state that is not the one `what` was made from (another lineage)."""
        if expected != self.lineage:
            raise StateError(
                f"state lineage {_show_lineage(self.lineage)} differs from "
                f"{_show_lineage(expected)} recorded in {what}",
                hint=f"{what} was made against another state file; plan again against this one",
            )


def _show_lineage(lineage: str | None) -> str:
    return lineage if lineage is not None else "(none: no state yet)"


# --- protocols ----------------------------------------------------------------------------------


class IntentRef(Protocol):
    """Anything naming an intent: `complete` and `abandon` look the intent up by its id."""

    @property
    def intent_id(self) -> str: ...


class StateSession(Protocol):
    """The state while the lock is held. Every method that changes it is durable on return."""

    @property
    def state(self) -> State: ...

    @property
    def warnings(self) -> list[str]: ...

    @property
    def lock_info(self) -> LockInfo: ...

    @property
    def entries(self) -> Mapping[str, StateEntry]: ...

    def record_intent(self, address: str, op: str, **details: Any) -> Intent: ...

    def complete(
        self, intent: IntentRef, *, put: StateEntry | None = None, remove: bool = False
    ) -> None: ...

    def abandon(self, intent: IntentRef, reason: str) -> None: ...

    def put(self, address: str, entry: StateEntry) -> None: ...

    def remove(self, address: str) -> None: ...

    def pending_intents(self) -> list[Intent]: ...

    def checkpoint(self) -> None: ...

    def replace(self, state: State) -> None: ...


@runtime_checkable
class GroupCommit(Protocol):
    """A session that can share one durable write among concurrent writers (optional).

    Inside `deferred_sync()`, `record_intent`, `complete`, … append and return at once; the
    writer then awaits `sync()`, which returns when everything appended so far is durable.
    Leaving the block makes whatever is left durable. A backend without this capability is
    simply used with its durable-on-return methods.
    """

    def deferred_sync(self) -> AbstractContextManager[None]: ...

    async def sync(self) -> None: ...


class StateStore(Protocol):
    """Where state lives: a file today, PostgreSQL later; both keep these guarantees."""

    @property
    def location(self) -> str: ...

    def read(self) -> State: ...

    def lock(
        self,
        *,
        timeout: float = 0,
        operation: str,
        on_wait: Callable[[LockInfo], None] | None = None,
    ) -> AbstractContextManager[StateSession]: ...

    def lock_info(self) -> LockInfo | None: ...

    def unlock(self, lock_id: str) -> LockInfo: ...


# --- snapshot format ----------------------------------------------------------------------------


def dumps_state(state: State) -> str:
    """The snapshot text: fixed top-level order, sorted keys below, indent 2, final newline."""
    document = {
        "format_version": FORMAT_VERSION,
        "lineage": state.lineage,
        "serial": state.serial,
        "entries": {
            address: state.entries[address].model_dump(mode="json")
            for address in sorted(state.entries)
        },
        "pending_intents": [intent.to_json() for intent in state.pending],
    }
    return json.dumps(_sorted_below_top(document), indent=2, ensure_ascii=False) + "\n"


def loads_state(text: str, *, source: str = "<state>") -> State:
    """Parse a snapshot; every problem is a `StateError` naming `source`."""
    return _parse_snapshot(text, source=source, hint=None).freeze()


def _sorted_below_top(document: dict[str, Any]) -> dict[str, Any]:
    return {key: _sorted(value) for key, value in document.items()}


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


@dataclass
class _Working:
    """The mutable state behind a session, and the target of journal replay."""

    lineage: str | None = None
    serial: int = 0
    entries: dict[str, StateEntry] = field(default_factory=dict)
    pending: dict[str, Intent] = field(default_factory=dict)

    def freeze(self) -> State:
        return State(
            lineage=self.lineage,
            serial=self.serial,
            entries=self.entries,
            pending=tuple(self.pending.values()),
        )


def _parse_snapshot(text: str, *, source: str, hint: str | None) -> _Working:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(
            f"state file {source} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
            hint=hint,
        ) from exc

    def invalid(what: str) -> StateError:
        return StateError(f"state file {source}: {what}", hint=hint)

    if not isinstance(document, dict):
        raise invalid("expected a JSON object at the top")
    version = document.get("format_version")
    _check_format_version(version, source=source, invalid=invalid)
    for key in _SNAPSHOT_KEYS:
        if key not in document:
            raise invalid(f"missing field `{key}`")
    unknown = sorted(set(document) - set(_SNAPSHOT_KEYS))
    if unknown:
        raise invalid(f"unknown field `{unknown[0]}`")

    working = _Working(
        lineage=_lineage(document["lineage"], invalid=invalid),
        serial=_serial(document["serial"], name="serial", invalid=invalid),
    )
    entries = document["entries"]
    if not isinstance(entries, dict):
        raise invalid("`entries` must be an object keyed by address")
    for address, raw_entry in entries.items():
        working.entries[address] = _entry(raw_entry, where=f"entry `{address}`", invalid=invalid)
    intents = document["pending_intents"]
    if not isinstance(intents, list):
        raise invalid("`pending_intents` must be a list")
    for index, raw_intent in enumerate(intents):
        intent = _intent(raw_intent, where=f"pending_intents[{index}]", invalid=invalid)
        if intent.intent_id in working.pending:
            raise invalid(f"pending intent {intent.intent_id} appears twice")
        working.pending[intent.intent_id] = intent
    return working


def _check_format_version(
    version: Any, *, source: str, invalid: Callable[[str], StateError]
) -> None:
    if type(version) is not int or version < 1:
        raise invalid(f"`format_version` must be a positive integer, not {version!r}")
    if version > FORMAT_VERSION:
        raise StateError(
            f"state format {version} in {source} is newer than this jobspec "
            f"({FORMAT_VERSION}); upgrade jobspec",
            hint="a newer jobspec wrote this state; an older one must not rewrite it",
        )


def _lineage(value: Any, *, invalid: Callable[[str], StateError]) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError
        uuid.UUID(value)
    except ValueError:
        raise invalid(f"`lineage` must be a UUID string, not {value!r}") from None
    return value


def _serial(value: Any, *, name: str, invalid: Callable[[str], StateError]) -> int:
    if type(value) is not int or value < 0:
        raise invalid(f"`{name}` must be a non-negative integer, not {value!r}")
    return value


def _entry(raw: Any, *, where: str, invalid: Callable[[str], StateError]) -> StateEntry:
    try:
        return StateEntry.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"]) or "(entry)"
        raise invalid(f"{where}: `{loc}`: {first['msg']}") from None


def _intent(raw: Any, *, where: str, invalid: Callable[[str], StateError]) -> Intent:
    if not isinstance(raw, dict):
        raise invalid(f"{where}: expected an object")
    for key in _INTENT_KEYS:
        if key not in raw:
            raise invalid(f"{where}: missing field `{key}`")
    texts = {key: raw[key] for key in ("intent_id", "address", "op")}
    for key, value in texts.items():
        if not isinstance(value, str) or not value:
            raise invalid(f"{where}: `{key}` must be a non-empty string")
    started_at, details = raw["started_at"], raw["details"]
    if type(started_at) not in (int, float):
        raise invalid(f"{where}: `started_at` must be a number (epoch seconds)")
    if not isinstance(details, dict):
        raise invalid(f"{where}: `details` must be an object")
    if details.get("target") is not None and not isinstance(details["target"], str):
        raise invalid(f"{where}: `details.target` must be a job id string or null")
    return Intent(
        intent_id=texts["intent_id"],
        address=texts["address"],
        op=texts["op"],
        details=details,
        started_at=float(started_at),
    )


# --- journal format -----------------------------------------------------------------------------


@dataclass
class _Journal:
    """A journal file as read: its header, its committed records and where they end."""

    lineage: str
    base_serial: int
    records: list[tuple[int, dict[str, Any]]]  # (line number, record) after the header
    good_size: int  # bytes up to the end of the last committed line
    torn: bool  # a torn last line follows good_size


def _scan_journal(data: bytes, *, source: str, hint: str) -> _Journal | None:
    """Split a journal into committed records. None when it holds no complete header."""
    pieces = data.split(b"\n")
    tail = pieces.pop()  # b"" when the file ends with a newline
    lines: list[tuple[bytes, bool]] = [(piece, True) for piece in pieces]
    if tail:
        lines.append((tail, False))
    parsed: list[tuple[int, dict[str, Any]]] = []
    good_size = offset = 0
    torn = False
    for index, (raw, terminated) in enumerate(lines):
        lineno = index + 1
        offset += len(raw) + (1 if terminated else 0)
        is_last = index == len(lines) - 1
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if is_last:
                torn = True
                break
            raise StateError(
                f"journal {source}:{lineno}: corrupt line in the middle of the journal ({exc})",
                hint=hint,
            ) from None
        if not terminated:
            torn = True  # the newline is the commit point; without it the record never was
            break
        parsed.append((lineno, record))
        good_size = offset
    if not parsed:
        return None
    (header_line, header), records = parsed[0], parsed[1:]

    def invalid(what: str) -> StateError:
        return StateError(f"journal {source}:{header_line}: {what}", hint=hint)

    if header.get("kind") != "header":
        raise invalid("the first line must be the journal header")
    _check_format_version(header.get("format_version"), source=source, invalid=invalid)
    return _Journal(
        lineage=_lineage(header.get("lineage"), invalid=invalid),
        base_serial=_serial(header.get("base_serial"), name="base_serial", invalid=invalid),
        records=records,
        good_size=good_size,
        torn=torn,
    )


def _replay(working: _Working, journal: _Journal, *, source: str, hint: str) -> None:
    for lineno, record in journal.records:

        def invalid(what: str, lineno: int = lineno) -> StateError:
            return StateError(f"journal {source}:{lineno}: {what}", hint=hint)

        if record.get("serial") != working.serial + 1:
            raise invalid(
                f"serial {record.get('serial')!r} does not follow {working.serial} "
                "(written by two processes at once, or edited)"
            )
        kind = record.get("kind")
        if kind == "intent":
            intent = _intent(record, where="intent", invalid=invalid)
            if intent.intent_id in working.pending:
                raise invalid(f"intent {intent.intent_id} recorded twice")
            working.pending[intent.intent_id] = intent
        elif kind in ("done", "abandon"):
            intent_id = record.get("intent_id")
            if not isinstance(intent_id, str) or working.pending.pop(intent_id, None) is None:
                raise invalid(f"`{kind}` for intent {intent_id!r}, which is not pending")
            change = record.get("change") if kind == "done" else None
            if change is not None:
                if not isinstance(change, dict) or ("put" in change) == ("remove" in change):
                    raise invalid(
                        '`change` must be {"put": ADDRESS, "entry": …} or {"remove": ADDRESS}'
                    )
                if "put" in change:
                    _apply(working, "put", change["put"], change.get("entry"), invalid=invalid)
                else:
                    _apply(working, "remove", change["remove"], None, invalid=invalid)
        elif kind in ("put", "remove"):
            _apply(working, kind, record.get("address"), record.get("entry"), invalid=invalid)
        else:
            raise invalid(f"unknown record kind {kind!r}")
        working.serial += 1


def _apply(
    working: _Working,
    op: str,
    address: Any,
    raw_entry: Any,
    *,
    invalid: Callable[[str], StateError],
) -> None:
    if not isinstance(address, str):
        raise invalid(f"`{op}` must name its address")
    if op == "remove":
        working.entries.pop(address, None)
    else:
        working.entries[address] = _entry(raw_entry, where=f"entry `{address}`", invalid=invalid)


# --- file primitives ----------------------------------------------------------------------------


def atomic_write(path: Path, chunks: Iterable[bytes], *, sync: bool = True) -> None:
    """Replace `path` with the bytes of `chunks`, all or nothing.

    The temp file sits in the same directory (rename is only atomic within one file system),
    is fsynced before the rename and the directory after it. If writing fails at any point,
    including inside `chunks`, the temp file is removed and `path` keeps its old content.
    """
    temp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if sync:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


_datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return (stat.st_dev, stat.st_ino)


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


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _read_lock_fd(fd: int) -> tuple[LockInfo | None, bool]:
    """The holder recorded in an open lock file, and whether the file had any content."""
    data = os.pread(fd, 65536, 0)
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
class _HeldLock:
    fd: int
    identity: tuple[int, int]
    info: LockInfo


@dataclass
class _Busy:
    info: LockInfo | None
    foreign_stale: bool  # flock free, but the holder is on another host


@dataclass
class _Loaded:
    working: _Working
    journal: _Journal | None
    journal_live: bool  # its records are not in the snapshot yet


# --- the file store -----------------------------------------------------------------------------


class FileStateStore:
    """State in a local file, with a journal, a backup and an flock-based lock.

    `checkpoint_lines`: fold the journal into a new snapshot once it holds this many records.
    `sync=False` skips fsync/fdatasync (every other step stays the same): for tests and
    benchmarks only, since a power cut may then lose committed records.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_STATE_PATH,
        *,
        checkpoint_lines: int = DEFAULT_CHECKPOINT_LINES,
        sync: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if checkpoint_lines < 1:
            raise ValueError("checkpoint_lines must be at least 1")
        self.path = Path(path).absolute()
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.checkpoint_lines = checkpoint_lines
        self.sync = sync
        self.clock = clock

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
            with self.path.open("rb") as handle:
                identity = _identity(os.fstat(handle.fileno()))
                data = handle.read()
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
            return _identity(os.stat(self.path))
        except FileNotFoundError:
            return None

    @staticmethod
    def _read_bytes(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unreadable(path, exc) from None

    def _backup_hint(self) -> str:
        if self.backup_path.exists():
            return (
                f"the previous version is kept at {self.backup_path}; if it looks right, "
                f"restore it with `cp {self.backup_path} {self.path}` (and move "
                f"{self.journal_path.name} aside if it exists)"
            )
        return f"no backup exists beside it ({self.backup_path}); repair the file by hand"

    def _journal_hint(self) -> str:
        return (
            f"the snapshot {self.path} is intact; moving {self.journal_path} aside loses only "
            "the changes recorded since the last checkpoint (the next plan shows them as drift)"
        )

    def _combine(self, snapshot_text: str | None, journal_data: bytes | None) -> _Loaded:
        if snapshot_text is None:
            working = _Working()
        else:
            working = _parse_snapshot(
                snapshot_text, source=str(self.path), hint=self._backup_hint()
            )
        source, hint = str(self.journal_path), self._journal_hint()
        journal = (
            None if journal_data is None else _scan_journal(journal_data, source=source, hint=hint)
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
            _replay(working, journal, source=source, hint=hint)
            return _Loaded(working, journal, journal_live=bool(journal.records))
        if journal.base_serial < working.serial and last_serial == working.serial:
            # A crash between writing a snapshot and deleting the journal it folded in.
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
        held, warnings = self._acquire(timeout=timeout, operation=operation, on_wait=on_wait)
        try:
            session = _FileSession(self, held, warnings)
        except BaseException:
            self._release(held)
            raise
        try:
            with closing_session(session):
                yield session
        finally:
            self._release(held)

    def lock_info(self) -> LockInfo | None:
        """The holder named in the lock file, if any (it may be stale)."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
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
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            raise StateError(f"state {self.path} is not locked") from None
        try:
            info, had_content = _read_lock_fd(fd)
            if info is None:
                raise StateError(
                    f"lock file {self.lock_path} names no holder"
                    + (" (unreadable content)" if had_content else " (empty)"),
                    hint="someone may be taking the lock right now; if no jobspec is "
                    f"running, delete {self.lock_path} by hand",
                )
            if info.id != lock_id:
                raise StateError(
                    f"lock id {lock_id} is not the lock on {self.path}: that is {info.id}, "
                    f"held by {info.describe()}",
                    hint=f"to break it: jobspec unlock {info.id}",
                )
            with suppress(FileNotFoundError):
                if _identity(os.stat(self.lock_path)) == _identity(os.fstat(fd)):
                    os.unlink(self.lock_path)
            return info
        finally:
            os.close(fd)

    def _acquire(
        self,
        *,
        timeout: float,
        operation: str,
        on_wait: Callable[[LockInfo], None] | None,
    ) -> tuple[_HeldLock, list[str]]:
        deadline = time.monotonic() + timeout
        delay = 0.01
        waited = False
        host = socket.gethostname()
        while True:
            busy, outcome = self._try_acquire(operation=operation, host=host)
            if outcome is not None:
                return outcome
            if busy is None:
                continue  # raced with a release; the lock file changed under us
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._locked_error(busy, host=host)
            if not waited and on_wait is not None and busy.info is not None:
                on_wait(busy.info)
                waited = True
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.25)

    def _try_acquire(
        self, *, operation: str, host: str
    ) -> tuple[_Busy | None, tuple[_HeldLock, list[str]] | None]:
        """One attempt. (busy, None) when held; (None, None) on a race; (None, held) on success."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(
                f"cannot open the lock file {self.lock_path}: {exc.strerror}",
                hint=f"the state's directory {self.path.parent} must exist and be writable",
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return _Busy(_read_lock_fd(fd)[0], foreign_stale=False), None
            except OSError as exc:
                raise StateError(
                    f"cannot lock {self.lock_path}: {exc.strerror}",
                    hint="this file system does not support flock; keep state on a local disk",
                ) from exc
            identity = _identity(os.fstat(fd))
            try:
                current: tuple[int, int] | None = _identity(os.stat(self.lock_path))
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
                warnings.append(f"took over a lock file {self.lock_path} with unreadable content")
            info = LockInfo(
                id=str(uuid.uuid4()),
                holder=f"{_user()}@{host}",
                host=host,
                pid=os.getpid(),
                operation=operation,
                created_at=_now_iso(),
            )
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info.to_json(), indent=2) + "\n").encode(), 0)
            if self.sync:
                os.fsync(fd)
            held, fd = _HeldLock(fd, identity, info), -1  # the held lock owns fd now
            return None, (held, warnings)
        finally:
            if fd >= 0:
                os.close(fd)

    def _locked_error(self, busy: _Busy, *, host: str) -> LockError:
        if busy.info is None:
            return LockError(
                f"state {self.path} is locked (the holder is still writing its name)",
                hint="retry, or wait with --lock-timeout",
            )
        if busy.foreign_stale:
            return LockError(
                f"state {self.path} is locked by {busy.info.describe()} on another host "
                f"({busy.info.host}, this is {host}); its liveness cannot be checked from here",
                hint=f"if that run is gone for sure: jobspec unlock {busy.info.id}",
            )
        return LockError(
            f"state {self.path} is locked by {busy.info.describe()}",
            hint="wait for it (--lock-timeout SECONDS); if it is gone for sure: "
            f"jobspec unlock {busy.info.id}",
        )

    def _still_held(self, held: _HeldLock) -> bool:
        try:
            return _identity(os.stat(self.lock_path)) == held.identity
        except FileNotFoundError:
            return False

    def _check_held(self, held: _HeldLock) -> None:
        if not self._still_held(held):
            raise LockError(
                f"the lock on {self.path} (id {held.info.id}) was broken while this run held it; "
                "stopped before writing",
                hint="someone ran `jobspec unlock`; another run may own the state now: plan again",
            )

    def _release(self, held: _HeldLock) -> None:
        try:
            if self._still_held(held):
                with suppress(FileNotFoundError):
                    os.unlink(self.lock_path)
        finally:
            os.close(held.fd)  # closing drops the flock

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
            atomic_write(self.path, [data], sync=self.sync)
            if previous is not None:
                os.replace(previous, self.backup_path)
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
                    os.unlink(previous)

    def _keep_current_snapshot(self) -> Path | None:
        """A temp name for the current snapshot (a hard link, else a copy); None if none yet."""
        temp = self.backup_path.with_name(f"{self.backup_path.name}.tmp-{uuid.uuid4().hex[:12]}")
        try:
            os.link(self.path, temp)
        except FileNotFoundError:
            return None
        except OSError:  # no hard links here (some network and FAT file systems)
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                return None
            try:
                with temp.open("xb") as handle:
                    handle.write(data)
                    handle.flush()
                    if self.sync:
                        os.fsync(handle.fileno())
            except BaseException:
                with suppress(FileNotFoundError):
                    temp.unlink()
                raise
        return temp

    def _remove_leftovers(self) -> None:
        """Temp files of writes that a crash interrupted."""
        prefixes = (f"{self.path.name}.tmp-", f"{self.backup_path.name}.tmp-")
        for name in os.listdir(self.path.parent):
            if name.startswith(prefixes):
                with suppress(FileNotFoundError):
                    os.unlink(self.path.parent / name)


S = TypeVar("S", bound="JournalSession")


@contextmanager
def closing_session(session: S) -> Iterator[S]:
    """Close (checkpoint) the session on the way out, even when the block failed.

    A failed checkpoint after a failure is noted on the first error, not raised over it:
    the journal is kept, so nothing is lost.
    """
    try:
        yield session
    except BaseException as exc:
        try:
            session.close()
        except Exception as close_exc:
            exc.add_note(f"(the state journal was kept; checkpoint failed: {close_exc})")
        raise
    else:
        session.close()


class JournalSession:
    """What every state session shares: the records a write journals, and their bookkeeping.

    A store's session subclasses it and supplies `_write(record)` (make one record durable:
    a journal line, an INSERT), `_wrote()` (after it: serial, caches, checkpoints), `_where`
    (the store, for messages) and `_now()` (the store's clock); it sets `_mutex`, `_working`,
    `_closed` and `_cached`.
    """

    _mutex: threading.RLock
    _working: _Working
    _closed: bool
    _cached: State | None
    _warnings: list[str]

    @property
    def state(self) -> State:
        with self._mutex:
            if self._cached is None:
                self._cached = self._working.freeze()
            return self._cached

    @property
    def warnings(self) -> list[str]:
        return self._warnings

    @property
    def entries(self) -> Mapping[str, StateEntry]:
        """The entries now (a read-only view, cheaper than `.state` on a hot path)."""
        return MappingProxyType(self._working.entries)

    def pending_intents(self) -> list[Intent]:
        with self._mutex:
            return list(self._working.pending.values())

    @property
    def _where(self) -> str:
        raise NotImplementedError

    def _now(self) -> float:
        raise NotImplementedError

    def _write(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def _wrote(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _become(self, state: State) -> None:
        """Take `state` as the session's whole state (after `replace` stored it)."""
        assert state.lineage is not None
        self._working = _Working(
            lineage=state.lineage,
            serial=state.serial,
            entries=dict(state.entries),
            pending={intent.intent_id: intent for intent in state.pending},
        )
        self._cached = None

    def record_intent(self, address: str, op: str, **details: Any) -> Intent:
        """Journal a mutating call before making it; durable when this returns.

        `details` must be JSON values; by convention `target` is the job id the call acts on.
        """
        target = details.get("target")
        if target is not None and not isinstance(target, str):
            raise TypeError(f"target must be a job id string, not {target!r}")
        with self._mutex:
            intent = Intent(
                intent_id=uuid.uuid4().hex,
                address=address,
                op=op,
                details=json.loads(json.dumps(details, allow_nan=False)),  # plain JSON, detached
                started_at=self._now(),
            )
            self._write({"kind": "intent", "serial": self._next(), **intent.to_json()})
            self._working.pending[intent.intent_id] = intent
            self._wrote()
            return intent

    def complete(
        self, intent: IntentRef, *, put: StateEntry | None = None, remove: bool = False
    ) -> None:
        """The intent's call succeeded; `put` or `remove` its address's entry accordingly."""
        if put is not None and remove:
            raise ValueError("complete() takes put= or remove=, not both")
        with self._mutex:
            intent = self._pending(intent)
            change: dict[str, Any] | None = None
            if put is not None:
                change = {"put": intent.address, "entry": put.model_dump(mode="json")}
            elif remove:
                change = {"remove": intent.address}
            record = {"kind": "done", "serial": self._next(), "intent_id": intent.intent_id}
            self._write({**record, "change": change})
            del self._working.pending[intent.intent_id]
            if put is not None:
                self._working.entries[intent.address] = put
            elif remove:
                self._working.entries.pop(intent.address, None)
            self._wrote()

    def abandon(self, intent: IntentRef, reason: str) -> None:
        """The intent's call provably did not happen (or no longer matters)."""
        with self._mutex:
            self._pending(intent)
            self._write(
                {
                    "kind": "abandon",
                    "serial": self._next(),
                    "intent_id": intent.intent_id,
                    "reason": reason,
                }
            )
            del self._working.pending[intent.intent_id]
            self._wrote()

    def put(self, address: str, entry: StateEntry) -> None:
        with self._mutex:
            record = {"kind": "put", "serial": self._next(), "address": address}
            self._write({**record, "entry": entry.model_dump(mode="json")})
            self._working.entries[address] = entry
            self._wrote()

    def remove(self, address: str) -> None:
        with self._mutex:
            if address not in self._working.entries:
                raise StateError(
                    f"no entry for `{address}` in state {self._where}",
                    hint="`jobspec state list` shows the addresses in state",
                )
            self._write({"kind": "remove", "serial": self._next(), "address": address})
            del self._working.entries[address]
            self._wrote()

    def _next(self) -> int:
        self._require_open()
        return self._working.serial + 1

    def _require_open(self) -> None:
        if self._closed:
            raise RuntimeError("this state session is closed (the lock was released)")

    def _pending(self, ref: IntentRef) -> Intent:
        intent = self._working.pending.get(ref.intent_id)
        if intent is None:
            raise ValueError(f"intent {ref.intent_id} is not pending")
        return intent


class _FileSession(JournalSession):
    """The state under the file lock. Each write is one journal line, durable on return."""

    @property
    def _where(self) -> str:
        return str(self._store.path)

    def _now(self) -> float:
        return self._store.clock()

    def __init__(self, store: FileStateStore, held: _HeldLock, warnings: list[str]) -> None:
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
        self._syncing: asyncio.Future[None] | None = None
        journal = loaded.journal
        if journal is not None and loaded.journal_live:
            self._journal_exists = True
            self._journal_records = len(journal.records)
            self._journal_size = journal.good_size
            if journal.torn:
                self._truncate_torn_tail(journal.good_size)
        elif store.journal_path.exists():
            # Empty, torn before its header, or already folded into the snapshot.
            store.journal_path.unlink()
            if store.sync:
                _fsync_dir(store.path.parent)

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
            store._check_held(self._held)
            store._write_snapshot(self.state)
            self._close_fd()
            # From here a crash leaves a journal already folded in, recognised by its serials.
            store.journal_path.unlink()
            if store.sync:
                _fsync_dir(store.path.parent)
            self._journal_exists = False
            self._journal_size = 0
            self._journal_records = 0
            self._synced = self._appended  # the snapshot, fsynced, holds every record

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
                    _datasync(self._fd)
                self._synced = self._appended

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
                upto = self._appended
                if not self._store.sync or self._fd is None:  # nothing to sync, or folded in
                    self._synced = max(self._synced, upto)
                    return
                fd = os.dup(self._fd)  # a checkpoint may close the session's own fd meanwhile
            try:
                await asyncio.to_thread(_datasync, fd)
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
            self._store._check_held(self._held)
            self._store._write_snapshot(state)
            self._become(state)

    def close(self) -> None:
        with self._mutex:
            if self._closed:
                return
            try:
                self.checkpoint()
            finally:
                self._close_fd()
                self._closed = True

    # internals -------------------------------------------------------------------------------

    def _wrote(self) -> None:
        self._working.serial += 1
        self._cached = None
        if self._journal_records >= self._store.checkpoint_lines:
            self.checkpoint()

    def _write(self, record: dict[str, Any]) -> None:
        """Append one record and make it durable, or leave the journal as it was."""
        line = (
            json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
        ).encode()
        store = self._store
        if self._broken:
            raise StateError(
                f"the journal {store.journal_path} may end in a torn line after a failed write; "
                "this run stops writing",
                hint="run again: the next run repairs the journal's end before writing",
            )
        store._check_held(self._held)
        try:
            fd = self._journal_fd()
            _write_all(fd, line)
            if store.sync and not self._deferred:
                _datasync(fd)
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
        if not self._deferred:
            self._synced = self._appended

    def _journal_fd(self) -> int:
        if self._fd is not None:
            return self._fd
        store = self._store
        if self._journal_exists:
            self._fd = os.open(store.journal_path, os.O_WRONLY | os.O_APPEND)
            return self._fd
        lineage = self._working.lineage or str(uuid.uuid4())
        header = {
            "kind": "header",
            "format_version": FORMAT_VERSION,
            "lineage": lineage,
            "base_serial": self._working.serial,
        }
        data = (json.dumps(header, separators=(",", ":")) + "\n").encode()
        fd = os.open(store.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _write_all(fd, data)
            if store.sync:
                _datasync(fd)
                _fsync_dir(store.path.parent)
        except BaseException:
            os.close(fd)
            with suppress(FileNotFoundError):
                store.journal_path.unlink()
            raise
        self._fd = fd
        self._journal_exists = True
        self._journal_size = len(data)
        self._working.lineage = lineage
        return fd

    def _truncate_torn_tail(self, size: int) -> None:
        fd = os.open(self._store.journal_path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            if self._store.sync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
