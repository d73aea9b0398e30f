"""The store protocols: what the applier, the commands and the stores agree on.

Terraform's statemgr splits the same ground into small interfaces; here `StateStore` reads,
locks and unlocks, the `StateSession` it yields while the lock is held makes every write
durable on return, and `GroupCommit` is the optional capability of sharing one durable write
among concurrent writers. Both stores (`filestore`, `postgres`) implement them, and one
contract suite (tests/state/test_contract.py) holds both to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from jobspec.model import StateEntry
from jobspec.state.values import Intent, LockInfo, State

if TYPE_CHECKING:
    from jobspec.state.filestore import Restored

__all__ = ["GroupCommit", "IntentRef", "Restorable", "StateSession", "StateStore"]


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

    def move(self, old: str, new: str) -> None: ...

    def set_server(self, server: str) -> None: ...

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
    """Where state lives: a file or a PostgreSQL workspace; both keep these guarantees."""

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


@runtime_checkable
class Restorable(Protocol):
    """The optional capability of keeping a backup and making it the state again.

    The file store has it (`jobspec state restore`); PostgreSQL's transactions leave nothing
    half-written to restore from. Commands ask for the capability, never for a store's class.
    """

    @property
    def location(self) -> str: ...

    @property
    def backup_path(self) -> Path: ...

    def restore_backup(self, *, timeout: float = 0) -> Restored: ...
