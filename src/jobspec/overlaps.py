"""The transfer-conflict check of a plan: where each scheduled clone will write, once applied.

Pure, beside the planner: it builds the world after the plan (planned clones as they will be,
live jobs no step retires) and asks `conflicts` which of them overlap; `placing` adds the
endpoints that cannot be placed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobspec.conflicts import Party, find_conflicts, is_scheduled
from jobspec.merge import deep_merge
from jobspec.model import DesiredJob, LiveJob, StateEntry
from jobspec.placing import unplaced_findings
from jobspec.plan import Action, PlanWarning, StepOp
from jobspec.scrub import shorten


def transfer_conflicts(
    *,
    planned: list[tuple[DesiredJob, Action]],
    actions: list[Action],
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    live: Mapping[str, LiveJob],
) -> tuple[list[str], list[PlanWarning], bool]:
    """Scheduled clones that would write where another scheduled job writes, once applied.

    The world after the plan: each planned clone as it will be (its base job with the managed
    body merged in), and every live job that no step retires and that is not one of those
    clones. Returns refusals (plan errors), accepted overlaps (warnings), and whether any
    clone was compared with the live jobs (then the plan depends on where they all write).
    """
    wanted_by_address: dict[str, DesiredJob] = {}
    parties: list[Party] = []
    for wanted, action in planned:
        clone = clone_after(action, live)
        parked = action.cutover is not None and action.cutover.phase in ("failed", "restored")
        if clone is not None and is_scheduled(clone) and not parked:  # parked: set to manual
            wanted_by_address[wanted.address] = wanted
            names = (wanted.address, action.clone_id) if action.clone_id else (wanted.address,)
            allows = tuple(wanted.spec.allow_overlap_with)
            parties.append(Party(wanted.address, clone, names, allows, desired=True))
    if not parties:
        return [], [], False

    gone = {step.job_id for a in actions for step in a.steps if step.op is StepOp.retire}
    gone.update(action.clone_id for _, action in planned if action.clone_id)
    clone_of: dict[str, list[str]] = {}
    for address, entry in sorted(prior.items()):
        clone_of.setdefault(entry.clone_id, []).append(address)
    original_of: dict[str, list[str]] = {}
    for address, other in sorted(desired.items()):
        original_of.setdefault(other.spec.source, []).append(address)
    for job in live.values():
        if job.id not in gone and is_scheduled(job.raw):
            parties.append(Party(job.id, job.raw, (job.id, *clone_of.get(job.id, ()))))

    def label(party: Party) -> str:
        if party.desired:
            return f"the clone of {party.key}"
        roles = [f"the clone of {address}" for address in clone_of.get(party.key, ())]
        roles += [f"the original of {address}" for address in original_of.get(party.key, ())]
        job = live[party.key]
        managed = " and ".join(roles) or "not managed by jobspec"
        return f"job {job.id} {shorten(job.name)!r} ({managed})"  # a server's name: bounded

    refused, accepted = unplaced_findings(parties, wanted_by_address, live)
    for conflict in find_conflicts(parties):
        first, second = conflict.first, conflict.second
        wanted = wanted_by_address[first.key]
        where = f" ({wanted_by_address[second.key].location})" if second.desired else ""
        text = (
            f"transfer conflict: {label(first)} writes to {conflict.first_place.describe()}, "
            f"which {conflict.relation} {conflict.second_place.describe()} written by "
            f"{label(second)}{where}; both run on schedule mode auto"
        )
        if conflict.accepted:
            accepted.append(
                PlanWarning(
                    address=first.key,
                    location=str(wanted.location),
                    message=f"{text} (accepted by allow_overlap_with)",
                )
            )
        else:
            refused.append(
                f"{wanted.location}: {first.key}: {text} "
                f"(if this is intended, add {second.key} to allow_overlap_with)"
            )
    return refused, accepted, True


def clone_after(action: Action, live: Mapping[str, LiveJob]) -> dict[str, Any] | None:
    """What the conflict check reads of the clone once the action is done: its base job's
    schedule, `disabled` and transfer, with the managed body merged in."""
    cloned_from = next((step.job_id for step in action.steps if step.op is StepOp.clone), None)
    base = live.get(cloned_from or action.clone_id or "")
    if base is None:
        return None
    read = ("schedule", "disabled", "transfer")
    slim: dict[str, Any] = {key: base.raw[key] for key in read if key in base.raw}
    return deep_merge(slim, action.applied)
