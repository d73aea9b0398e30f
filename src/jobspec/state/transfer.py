"""Moving state between stores (`jobspec state push` / `pull`), whatever the two stores are.

Copies one store's whole state into another, the way a team moves from a state file to a
shared database and back. `transfer_serial` is the rule, pure and tested with small tables;
`transfer_state` runs it under both locks, through the store protocols only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from jobspec.errors import StateError, UsageError
from jobspec.state.protocols import StateStore
from jobspec.state.values import State

__all__ = ["Transfer", "transfer_serial", "transfer_state"]


def _body(state: State) -> str:
    """Everything but lineage and serial: what two states must share to be the same."""
    return json.dumps(
        {
            "entries": {key: state.entries[key].model_dump(mode="json") for key in state.entries},
            "pending": sorted(
                (intent.to_json() for intent in state.pending), key=lambda i: i["intent_id"]
            ),
        },
        sort_keys=True,
    )


def transfer_serial(source: State, target: State, *, force: bool, what: str) -> int | None:
    """The serial to write `source` into `target` at, or None when `target` already holds it.

    Pure. Refuses (StateError) a source with no state at all, and, unless `force`: a target
    of another lineage, a target at a newer serial, and a target at the same serial with
    other content (the two copies diverged). The serial written never goes back: a forced
    copy lands at `target.serial + 1` when the source's is not higher, so every plan made
    against the target before goes stale.
    """
    if source.lineage is None:
        raise StateError(f"nothing to {what}: the source holds no state yet")
    if target.lineage is None:
        return source.serial
    force_hint = f"to replace it anyway: jobspec state {what} --force (its content is lost)"
    if target.lineage != source.lineage:
        if not force:
            raise StateError(
                f"the target state has lineage {target.lineage}, the source {source.lineage}: "
                "they are different states",
                hint="check both locations; " + force_hint,
            )
        return max(source.serial, target.serial + 1)
    if source.serial > target.serial:
        return source.serial
    if source.serial == target.serial and _body(source) == _body(target):
        return None
    if not force:
        older = source.serial < target.serial
        raise StateError(
            f"the target state is at serial {target.serial}, the source at {source.serial}"
            + (": the source is older" if older else ", with other content: they diverged"),
            hint=force_hint,
        )
    return target.serial + 1


@dataclass(frozen=True)
class Transfer:
    """What a push or pull did: the target's state before, and after (None: unchanged)."""

    before: State
    after: State | None


def transfer_state(
    *,
    source: StateStore,
    target: StateStore,
    force: bool,
    what: str,
    lock_timeout: float = 0,
) -> Transfer:
    """Copy `source`'s whole state into `target`, holding both locks (source first)."""
    if source.location == target.location:
        raise UsageError(
            f"source and target are the same state ({target.location})",
            hint="name another file, or another workspace in the URL",
        )
    operation = f"state {what}"
    with (
        source.lock(timeout=lock_timeout, operation=operation) as reading,
        target.lock(timeout=lock_timeout, operation=operation) as writing,
    ):
        before = writing.state
        serial = transfer_serial(reading.state, before, force=force, what=what)
        if serial is None:
            return Transfer(before=before, after=None)
        after = replace(reading.state, serial=serial)
        writing.replace(after)
        return Transfer(before=before, after=after)
