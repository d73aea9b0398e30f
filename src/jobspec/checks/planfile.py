"""Checks of a saved plan against the state and spec files, offline: is it sound, is it current.

A plan file is checked, not trusted. These are the offline checks `commands.apply.check_fresh`
runs before it reads any job; they read only the plan, the state's values and the specs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from jobspec.errors import StalePlanError, UsageError
from jobspec.model import DesiredJob, LiveJob, StateEntry
from jobspec.naming import name_key
from jobspec.plan import Plan, StepOp
from jobspec.planner import spec_digest

__all__ = ["check_clone_names", "check_plan_shape", "check_specs_unchanged", "clone_names"]


class StateView(Protocol):
    """What these checks read of the state (`jobspec.state.State` has it)."""

    @property
    def serial(self) -> int: ...

    @property
    def lineage(self) -> str | None: ...

    @property
    def entries(self) -> Mapping[str, StateEntry]: ...


class _Unsound(UsageError):
    """A saved plan that no plan made against this state could be."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"the plan file is not sound: {message}",
            hint="apply only plans that `jobspec plan --out` made, unedited; plan again",
        )


def check_plan_shape(plan: Plan, state: StateView) -> None:
    """Offline: unique addresses, a lineage for any clone, every step's target owned and read.

    A step may act only on its action's source, on the address's clone in state, or on one
    of its superseded clones in state; and only on a job the plan read (its fingerprints).
    """
    if plan.lineage is None and plan.serial != 0:
        raise _Unsound(f"it names no state lineage but serial {plan.serial}")
    seen: set[str] = set()
    for action in plan.actions:
        if action.address in seen:
            raise _Unsound(f"address {action.address} appears twice")
        seen.add(action.address)
        if plan.lineage is None and action.clone_id is not None:
            raise _Unsound(
                f"{action.address} names clone {action.clone_id}, but the plan was made with "
                "no state"
            )
    if state.serial != plan.serial or state.lineage != plan.lineage:
        return  # another state: check_fresh says so, with what moved
    for action in plan.actions:
        moved = [s.body["from"] for s in action.steps if s.op is StepOp.move and s.body]
        entry = state.entries.get(str(moved[0]) if moved else action.address)
        if action.clone_id is not None and (entry is None or entry.clone_id != action.clone_id):
            raise _Unsound(
                f"{action.address}'s clone is {action.clone_id} in the plan, "
                f"{entry.clone_id if entry else 'none'} in state"
            )
        owned = {action.source_id}
        if entry is not None:
            owned.update((entry.clone_id, *entry.superseded))
        for step in action.steps:
            if step.job_id is None:
                continue
            if step.job_id not in owned:
                raise _Unsound(
                    f"{action.address}: a {step.op.value} step targets job {step.job_id}, which "
                    f"is neither its source nor a clone state holds for it"
                )
            if step.job_id not in plan.fingerprints:
                raise _Unsound(
                    f"{action.address}: a {step.op.value} step targets job {step.job_id}, which "
                    "the plan did not read"
                )


def check_specs_unchanged(plan: Plan, desired: Mapping[str, DesiredJob]) -> None:
    """Refuse a saved plan whose addresses' specs changed on disk since it was made."""
    changed = []
    for address, before in sorted(plan.specs.items()):
        wanted = desired.get(address)
        now = spec_digest(wanted) if wanted is not None else None
        if now != before:
            what = "added" if before is None else "removed" if now is None else "edited"
            changed.append(f"{address} ({what})")
    if changed:
        raise StalePlanError(
            f"the spec files changed since the plan was made: {', '.join(changed)}",
            hint="plan again from the spec files as they are now, and review that plan",
        )


def clone_names(plan: Plan) -> dict[str, str]:
    """The name each clone the plan makes will have → its address."""
    return {
        name_key(str(step.body["name"])): action.address
        for action in plan.actions
        for step in action.steps
        if step.op is StepOp.clone and step.body is not None and "name" in step.body
    }


def check_clone_names(plan: Plan, state: StateView, every: list[LiveJob]) -> None:
    """Refuse when a job state does not know already has a name the plan's clones will get.

    The plan checked this when it was made; a job that took the name since (or a plan
    applied again against a state that lost its clones) would otherwise be duplicated.
    `every` is every live job (read once for this and the placements check).
    """
    names = clone_names(plan)
    if not names:
        return
    known = set(plan.fingerprints)
    for entry in state.entries.values():
        known.update((entry.source_id, entry.clone_id, *entry.superseded))
    taken = sorted(
        (names[name_key(job.name)], job.id, job.name)
        for job in every
        if name_key(job.name) in names and job.id not in known
    )
    if taken:
        address, job_id, name = taken[0]
        raise StalePlanError(
            f"job {job_id} is already named {name!r}, the name the plan gives {address}'s "
            f"clone, and state does not know it ({len(taken)} such job(s))",
            hint=f"was this plan applied already, or the state lost? adopt the job with "
            f"`jobspec import {address} {job_id}`, then plan again",
        )
