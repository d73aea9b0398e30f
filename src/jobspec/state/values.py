"""The state's values: what a store holds, and what the planner and applier read.

`State` is the whole state at one serial (frozen), `Intent` a mutating API call journaled
before it is made, `LockInfo` who holds the lock. `WorkingState` is the mutable form a session
changes and journal replay builds; `freeze()` turns it into a `State`. No I/O here.
"""

from __future__ import annotations

import getpass
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from jobspec.errors import StateError
from jobspec.model import StateEntry

__all__ = [
    "DEFAULT_STATE_PATH",
    "FORMAT_VERSION",
    "Intent",
    "LockInfo",
    "State",
    "WorkingState",
    "now_iso",
]

FORMAT_VERSION = 1
DEFAULT_STATE_PATH = "jobspec.state.json"


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

    @classmethod
    def for_this_process(cls, *, operation: str, host: str) -> LockInfo:
        """A new lock id held by this process's user on `host`, created now."""
        return cls(
            id=str(uuid.uuid4()),
            holder=f"{_user()}@{host}",
            host=host,
            pid=os.getpid(),
            operation=operation,
            created_at=now_iso(),
        )

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


def now_iso() -> str:
    """The time now as a lock's `created_at`: UTC, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        if sys.platform == "win32":
            return "unknown"
        return str(os.getuid())


@dataclass(frozen=True)
class State:
    """The state at one serial. `lineage` is None until the first write ("nothing applied yet")."""

    format_version: int = FORMAT_VERSION
    lineage: str | None = None
    serial: int = 0
    entries: Mapping[str, StateEntry] = field(default_factory=dict)
    pending: tuple[Intent, ...] = ()
    server: str | None = None  # the server the state's jobs live on (`netaddr.server_identity`)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", MappingProxyType(dict(self.entries)))

    def pending_intents(self) -> list[Intent]:
        """Intents recorded with no `done` or `abandon`: calls whose outcome is unknown."""
        return list(self.pending)

    def check_ownership(self) -> None:
        """Refuse a state in which one job is the clone (or an old clone) of two addresses.

        Whichever address acted on it next would change or retire the other's clone, so the
        commands that call the server check this before their first call. The stores do not:
        `state list`, `state rm` and `state mv` must still work on such a state to repair it.
        """
        owner: dict[str, str] = {}
        for address in sorted(self.entries):
            entry = self.entries[address]
            for job_id in dict.fromkeys((entry.clone_id, *entry.superseded)):
                first = owner.setdefault(job_id, address)
                if first != address:
                    raise StateError(
                        f"the state holds job {job_id} as the clone of both {first} and "
                        f"{address}; jobspec will not act on it",
                        hint=f"keep it under the address it belongs to and forget the other "
                        f"(`jobspec state rm {address}` or `jobspec state rm {first}`); "
                        "`jobspec state list` shows both",
                    )

    def check_server(self, server: str) -> None:
        """Refuse to use this state against a server other than the one it records.

        The same job ids on another server (a staging copy restored from production) are
        other jobs: planning there would clone everything again and retire originals there.
        """
        if self.server is not None and self.server != server:
            raise StateError(
                f"this state belongs to the DryvIQ server {self.server}, not {server}",
                hint="use the state of that server (--state); if this server really is the "
                f"same one at a new address, re-point the state: `jobspec state set-server "
                f"{server}`",
            )

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


@dataclass
class WorkingState:
    """The mutable state behind a session, and the target of journal replay."""

    lineage: str | None = None
    serial: int = 0
    entries: dict[str, StateEntry] = field(default_factory=dict)
    pending: dict[str, Intent] = field(default_factory=dict)
    server: str | None = None

    @classmethod
    def of(cls, state: State) -> WorkingState:
        """A working copy of `state` (a session taking a replaced state as its own)."""
        return cls(
            lineage=state.lineage,
            serial=state.serial,
            entries=dict(state.entries),
            pending={intent.intent_id: intent for intent in state.pending},
            server=state.server,
        )

    def freeze(self) -> State:
        return State(
            lineage=self.lineage,
            serial=self.serial,
            entries=self.entries,
            pending=tuple(self.pending.values()),
            server=self.server,
        )
