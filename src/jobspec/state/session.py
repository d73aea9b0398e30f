"""The journal session base: what every store's session shares while the lock is held.

A write to the state is a record (intent, done, abandon, put, remove, see `journal`) that
bumps the serial by one; `JournalSession` builds those records and keeps the working state,
and each store's session supplies only how a record is made durable (a journal line, an
INSERT) and how it checkpoints. `closing_session` closes a session (a final checkpoint) on
the way out of a store's `lock()` block, failure or not.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, TypeVar

from jobspec.errors import StateError
from jobspec.model import StateEntry
from jobspec.state.protocols import IntentRef
from jobspec.state.values import Intent, State, WorkingState

__all__ = ["DEFAULT_CHECKPOINT_LINES", "JournalSession", "closing_session"]

DEFAULT_CHECKPOINT_LINES = 4096
"""Fold the journal into a new snapshot once it holds this many records (or, for a large
state, half as many records as it has entries: see `JournalSession._checkpoint_due`)."""

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
    _working: WorkingState
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

    def checkpoint(self) -> None:
        raise NotImplementedError

    def _checkpoint_due(self, records: int, lines: int) -> bool:
        """Is a journal of `records` records due to be folded into the snapshot?

        Every `lines` records for a small state; for a large one, once the journal holds half
        as many records as the state has entries. A checkpoint rewrites every entry, so a fixed
        interval made an apply of N specs cost N²/`lines` entry writes; growing it with the
        state keeps the rewrites linear in N, and the journal replayed on load is never more
        than half the snapshot.
        """
        return records >= max(lines, len(self._working.entries) // 2)

    def _release(self) -> None:
        """What a store holds open beyond the lock (the file store's journal descriptor)."""

    def close(self) -> None:
        """Fold what is journaled into the snapshot, then let go; a second close does nothing."""
        with self._mutex:
            if self._closed:
                return
            try:
                self.checkpoint()
            finally:
                self._release()
                self._closed = True

    def _become(self, state: State) -> None:
        """Take `state` as the session's whole state (after `replace` stored it)."""
        assert state.lineage is not None
        self._working = WorkingState.of(state)
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

    def move(self, old: str, new: str) -> None:
        """Give `old`'s entry to `new` in one record: a crash never leaves it under both."""
        with self._mutex:
            if old not in self._working.entries:
                raise StateError(
                    f"no entry for `{old}` in state {self._where}",
                    hint="`jobspec state list` shows the addresses in state",
                )
            if new in self._working.entries:
                raise StateError(
                    f"`{new}` already has an entry in state {self._where}",
                    hint=f"`jobspec state rm {new}` first, if its clone is not needed",
                )
            self._write({"kind": "move", "serial": self._next(), "address": old, "to": new})
            self._working.entries[new] = self._working.entries.pop(old)
            self._wrote()

    def set_server(self, server: str) -> None:
        """Record the server this state's jobs live on (first use, or a real move)."""
        with self._mutex:
            if self._working.server == server:
                return
            self._write({"kind": "server", "serial": self._next(), "server": server})
            self._working.server = server
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
