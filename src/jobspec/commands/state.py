"""The state commands' sequences: forget, move, re-point, restore, and copy a state.

None calls the server; each takes the state lock for its change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobspec.errors import StateError, UsageError
from jobspec.model import ADDRESS_RE
from jobspec.netaddr import server_identity
from jobspec.settings import normalize_server
from jobspec.state import (
    Restorable,
    Restored,
    StateStore,
    Transfer,
    dumps_state,
    is_database_url,
    loads_state,
    open_state_store,
    transfer_state,
)

__all__ = [
    "Restore",
    "StateCopy",
    "copy_state",
    "forget",
    "move_address",
    "push_text",
    "repoint_server",
    "restore_backup",
    "state_text",
]


def forget(store: StateStore, *, address: str, lock_timeout: float = 0.0) -> str | None:
    """`jobspec state rm`: drop `address` from state, leaving its clone; returns the clone id.

    Its unfinished calls go too: an intent no apply can settle (a clone whose search keeps
    failing) would otherwise stop that address for good. None: it had intents, no entry.
    """
    with store.lock(timeout=lock_timeout, operation="state rm") as session:
        intents = [intent for intent in session.pending_intents() if intent.address == address]
        if address not in session.entries and not intents:
            raise UsageError(f"no state entry for {address}", hint="see `jobspec state list`")
        for intent in intents:
            session.abandon(intent, "cleared by `jobspec state rm`")
        if address not in session.entries:
            return None
        clone = session.entries[address].clone_id
        session.remove(address)
    return clone


def move_address(store: StateStore, *, old: str, new: str, lock_timeout: float = 0.0) -> str:
    """`jobspec state mv`: `old`'s clone becomes `new`'s, no new clone; returns the clone id.

    For a renamed address: without it, the plan would orphan the old clone and clone again.
    """
    if not ADDRESS_RE.match(new):
        raise UsageError(
            f"{new!r} is not an address",
            hint="addresses are lowercase letters, digits, `.`, `_` and `-`, as in the specs",
        )
    with store.lock(timeout=lock_timeout, operation="state mv") as session:
        if old not in session.entries:
            raise UsageError(f"no state entry for {old}", hint="see `jobspec state list`")
        if new in session.entries:
            raise UsageError(
                f"{new} already has clone {session.entries[new].clone_id} in state",
                hint=f"`jobspec state rm {new}` first, if that clone is not needed",
            )
        if any(intent.address == old for intent in session.pending_intents()):
            raise UsageError(
                f"an interrupted run left a call of {old} unfinished",
                hint="run `jobspec apply` first (it settles the call), then move the address",
            )
        session.move(old, new)
        return session.entries[new].clone_id


def repoint_server(store: StateStore, *, server: str, lock_timeout: float = 0.0) -> str | None:
    """`jobspec state set-server URL`: the state's jobs now live at URL; returns the old one.

    Only for a real move (the same server at a new address, its jobs and their ids kept).
    """
    new = server_identity(normalize_server(server))
    with store.lock(timeout=lock_timeout, operation="state set-server") as session:
        old = session.state.server
        session.set_server(new)
    return old


@dataclass(frozen=True)
class Restore:
    """What `state restore` did, and where the backup it restored is."""

    restored: Restored
    backup: str


def restore_backup(store: StateStore, *, lock_timeout: float = 0.0) -> Restore:
    """`jobspec state restore`: the backup becomes the state, in a new serial epoch.

    Only the file store keeps a backup; PostgreSQL's transactions leave nothing half-written
    to restore from, and `state push FILE --force` moves a saved copy in (never back in serial).
    """
    if not isinstance(store, Restorable):
        raise UsageError(
            f"state {store.location} keeps no backup: only a state file does",
            hint="to put a saved copy of the state back, `jobspec state push FILE --force`",
        )
    done = store.restore_backup(timeout=lock_timeout)
    return Restore(restored=done, backup=str(store.backup_path))


@dataclass(frozen=True)
class StateCopy:
    """What `state push` / `state pull` did, between which locations."""

    origin: str
    destination: str
    transfer: Transfer


def copy_state(
    configured: StateStore,
    *,
    source: str | None,
    target: str | None,
    force: bool,
    lock_timeout: float = 0.0,
) -> StateCopy:
    """`state push SOURCE` (target None) or `state pull TARGET` (source None)."""
    what = "push" if target is None else "pull"
    for given in (source, target):
        if given is not None and not is_database_url(given) and not Path(given).parent.is_dir():
            raise UsageError(f"directory {Path(given).parent} does not exist")
    if source is not None and not is_database_url(source) and not Path(source).exists():
        raise UsageError(f"state file {source} does not exist", hint="nothing to push")
    origin = configured if source is None else open_state_store(source)
    destination = configured if target is None else open_state_store(target)
    done = transfer_state(
        source=origin, target=destination, force=force, what=what, lock_timeout=lock_timeout
    )
    return StateCopy(origin=origin.location, destination=destination.location, transfer=done)


def state_text(store: StateStore) -> str:
    """`jobspec state pull -`: the whole state as a state file holds it; refused, as a pull
    into a file is, when there is no state yet."""
    state = store.read()
    if state.lineage is None:
        raise StateError(
            f"nothing to pull: {store.location} holds no state yet",
            hint="check --state, JOBSPEC_STATE or `state` in jobspec.toml",
        )
    return dumps_state(state)


def push_text(
    configured: StateStore, *, text: str, force: bool, lock_timeout: float = 0.0
) -> StateCopy:
    """`jobspec state push -`: the state file text read from stdin, copied in as
    `copy_state` copies a file (the same lineage and serial checks, the same locks).

    The text is checked first, so its problems name stdin; it then goes through a scratch
    state file, so that there is one way of copying a state.
    """
    import tempfile

    given = loads_state(text, source="stdin")
    with tempfile.TemporaryDirectory(prefix="jobspec-push-") as folder:
        path = Path(folder) / "stdin.state.json"
        path.write_text(dumps_state(given), encoding="utf-8")
        done = transfer_state(
            source=open_state_store(path),
            target=configured,
            force=force,
            what="push",
            lock_timeout=lock_timeout,
        )
    return StateCopy(origin="stdin", destination=configured.location, transfer=done)
