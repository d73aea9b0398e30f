"""Renaming an address through the reviewed flow: `moved_from:` in a spec. Pure.

A spec renamed from `old` to `new` with `moved_from: old` keeps old's clone: the plan shows
`old → new: moved (same clone)`, and apply moves the state entry in one journal record (and,
when the clone's name is derived from its address, renames the clone: a patch, shown). A
rename without it would clone afresh beside the old clone: refused, with the line to add.
"""

from __future__ import annotations

from collections.abc import Mapping

from jobspec.model import DesiredJob, LiveJob, StateEntry
from jobspec.naming import default_clone_name, name_key
from jobspec.plan import Action, ActionKind, FieldChange, Step, StepOp

__all__ = ["apply_moves", "find_moves", "moved_action", "unmarked_renames"]


def find_moves(
    desired: Mapping[str, DesiredJob], prior: Mapping[str, StateEntry]
) -> tuple[dict[str, str], list[str]]:
    """New address → the old address whose entry it takes, and the problems: an old address
    that still has a spec of its own, or that two specs claim. An old address state does not
    hold is no problem (the move was applied; the key is harmless)."""
    moves: dict[str, str] = {}
    problems: list[str] = []
    claimed: dict[str, str] = {}
    for address, wanted in sorted(desired.items()):
        for old in wanted.spec.moved_from:
            if old == address or old not in prior or address in prior:
                continue
            if old in desired:
                problems.append(
                    f"{wanted.location}: {address}: `moved_from: {old}`, but {old} still has a "
                    f"spec ({desired[old].location}); remove it so its entry can move here"
                )
                continue
            if old in claimed:
                problems.append(
                    f"{wanted.location}: {address}: `moved_from: {old}`, which {claimed[old]} "
                    "is moved from too; one address can move to one place"
                )
                continue
            claimed[old] = address
            moves.setdefault(address, old)
    return moves, problems


def apply_moves(prior: Mapping[str, StateEntry], moves: Mapping[str, str]) -> dict[str, StateEntry]:
    """State as the plan reads it: each moved entry under its new address."""
    moved = dict(prior)
    for new, old in moves.items():
        moved[new] = moved.pop(old)
    return moved


def _renamed(name: str, *, old: str, new: str) -> str | None:
    """The clone's name with its address changed, when it ends with ` (OLD)` (derived from
    it, as `default_clone_name` derives it); else None: a name of its own stays."""
    suffix = f" ({old})"
    if not name_key(name).endswith(name_key(suffix)):
        return None
    return default_clone_name(base_name=name[: -len(suffix)], address=new)


def moved_action(
    action: Action, *, old: str, wanted: DesiredJob, live: Mapping[str, LiveJob]
) -> Action:
    """`action` for the new address, with the move first: `old → new: moved (same clone)`; an
    unchanged address becomes an update. A clone kept whose name derives from the address is
    renamed in the same patch the action makes (or a patch of its own)."""
    move = Step(op=StepOp.move, role="clone", job_id=None, body={"from": old})
    reasons = [f"{old} → {action.address}: moved (same clone {action.clone_id})"]
    steps = [move, *action.steps]
    changes = list(action.changes)
    clone = live.get(action.clone_id or "")
    kept = action.kind in (ActionKind.noop, ActionKind.update, ActionKind.retire)
    name = _renamed(clone.name, old=old, new=action.address) if clone and kept else None
    if clone is not None and name is not None and wanted.spec.overrides.name is None:
        changes.append(
            FieldChange(
                path="name",
                before=clone.name,
                after=name,
                cause="spec",
                detail="the clone's name is derived from its address",
            )
        )
        patch = next((s for s in steps if s.op is StepOp.patch), None)
        if patch is not None and patch.body is not None:
            steps[steps.index(patch)] = patch.model_copy(
                update={"body": {**patch.body, "name": name}}
            )
        else:
            renamed = Step(
                op=StepOp.patch,
                job_id=clone.id,
                role="clone",
                body={"kind": clone.kind, "name": name},
            )
            steps.insert(1, renamed)
        reasons.append(f"the clone's name follows its address: {name!r}")
    kind = ActionKind.update if action.kind is ActionKind.noop else action.kind
    return action.model_copy(
        update={
            "kind": kind,
            "reasons": reasons + [r for r in action.reasons if r != "up to date"],
            "steps": steps,
            "changes": changes,
        }
    )


def unmarked_renames(
    *,
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    live: Mapping[str, LiveJob],
) -> list[str]:
    """New addresses that look like an address in state renamed (same source, and that
    address's live clone bears the name this spec's clone would have, or one derived from
    the old address) but say no `moved_from`: refused with the line to add."""
    problems = []
    orphans = {a: e for a, e in prior.items() if a not in desired}
    for address, wanted in sorted(desired.items()):
        if address in prior:
            continue
        for old, entry in sorted(orphans.items()):
            clone = live.get(entry.clone_id)
            if clone is None or entry.source_id != wanted.spec.source:
                continue
            explicit = wanted.spec.overrides.name
            same = explicit is not None and name_key(explicit) == name_key(clone.name)
            derived = explicit is None and _renamed(clone.name, old=old, new=address) is not None
            if same or derived:
                problems.append(
                    f"{wanted.location}: {address}: looks like {old} renamed (same source "
                    f"{entry.source_id}; {old}'s clone {clone.id} is still there): to keep that "
                    f"clone, add `moved_from: {old}` to this spec (or run `jobspec state mv "
                    f"{old} {address}`); to clone afresh, plan with --prune"
                )
                break
    return problems
