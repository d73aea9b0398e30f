"""The one gate in front of every mutating call: each target justified, never taken on trust.

The applier asks `refusal` before every clone, PATCH and DELETE (a retire), and `not_new`
before it records a clone. Both decide from three things only: the spec files as they are
now (`Ground.sources`), the state as it stands at that step, and the jobs this run saw
before its own clone call (`Ground.seen`). A plan, a plan file, a clone reply or a recovery
search only proposes a target; none of them can make a job "ours". Pure: table-tested.

The rules (docs/reliability.md lists them too):

1. A clone is made only from the address's source as its spec file names it now (or,
   without the spec files, as state records it), or from its own recorded clone.
2. A PATCH goes only to the clone state records for the address.
3. A retire of the original goes only to the source state records for the address, which
   must also be the source its spec file names now; a retire of an old clone only to one
   state lists as replaced for the address; a prune only to the address's recorded clone.
4. No PATCH or retire touches a job another address's spec names as a source, or that
   state records as another address's clone (current, replaced or retired), nor any job
   while the address's own recorded clone is such a job (a mistaken adoption).
5. A clone is new only if it is not the job it was cloned from, not a job seen before the
   call, not a spec's source and not a job state knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from jobspec.model import StateEntry
from jobspec.plan import Step, StepOp

__all__ = ["Ground", "claims", "not_new", "refusal"]


@dataclass(frozen=True, kw_only=True)
class Ground:
    """What the gate justifies targets from, besides the state.

    `sources`: each address's source id in the spec files now; None when the spec files were
    not read (a saved plan applied without them): then only state can justify a target.
    `seen`: every job id this run read before applying (the plan's listing and reads).
    """

    sources: Mapping[str, str] | None = None
    seen: frozenset[str] = field(default_factory=frozenset)


def claims(*, address: str, ground: Ground, entries: Mapping[str, StateEntry]) -> dict[str, str]:
    """Job id → whose it is, for every job another address's spec or state entry claims."""
    found: dict[str, str] = {}
    for other, entry in sorted(entries.items()):
        if other == address:
            continue
        found.setdefault(entry.clone_id, f"the clone state records for {other}")
        for job_id in entry.superseded:
            found.setdefault(job_id, f"a replaced clone state records for {other}")
        for job_id in entry.retired_clones:
            found.setdefault(job_id, f"a retired clone state records for {other}")
    for other, source in sorted((ground.sources or {}).items()):
        if other != address:
            found.setdefault(source, f"the source {other}'s spec names")
    return found


def refusal(
    *, address: str, step: Step, ground: Ground, entries: Mapping[str, StateEntry]
) -> str | None:
    """Why the mutating `step` of `address` must not be sent; None when its target is justified.

    `entries` is the state as it stands now (after the address's earlier steps).
    """
    target = step.job_id
    if step.op not in (StepOp.clone, StepOp.patch, StepOp.retire) or target is None:
        return None
    entry = entries.get(address)
    spec_source = None if ground.sources is None else ground.sources.get(address)
    if step.op is StepOp.clone:
        allowed = {spec_source} if ground.sources is not None else set()
        if entry is not None:
            allowed.add(entry.clone_id)
            if ground.sources is None:
                allowed.add(entry.source_id)
        if target not in allowed:
            return (
                f"job {target} is neither the source its spec names "
                f"({spec_source or 'no spec file read'}) nor its recorded clone"
            )
        return None
    if entry is None:
        return f"state records no clone for {address}, so no job is its to change"
    others = claims(address=address, ground=ground, entries=entries)
    every_source = set((ground.sources or {}).values())
    if entry.clone_id in others or entry.clone_id in every_source:
        whose = others.get(entry.clone_id, "a source a spec names")
        return (
            f"the clone state records for {address}, job {entry.clone_id}, is {whose}: "
            "it was never this address's clone"
        )
    if target in others:
        return f"job {target} is {others[target]}"
    if step.op is StepOp.patch:
        if target != entry.clone_id:
            return f"job {target} is not the clone state records ({entry.clone_id})"
        return None
    if step.role == "original":
        if target != entry.source_id:
            return f"job {target} is not the original state records ({entry.source_id})"
        if ground.sources is not None and target != spec_source:
            return (
                f"job {target} is not the source {address}'s spec names now "
                f"({spec_source or 'none'})"
            )
        return None
    if target in every_source:
        return f"job {target} is the source a spec names"
    if step.role == "old_clone":
        if target not in entry.superseded:
            return f"job {target} is not a replaced clone state records for {address}"
        return None
    if step.role == "clone":
        if target != entry.clone_id:
            return f"job {target} is not the clone state records ({entry.clone_id})"
        return None
    return f"a retire of a {step.role} is never sent"


def not_new(
    *,
    clone_id: str,
    base_id: str,
    ground: Ground,
    entries: Mapping[str, StateEntry],
) -> str | None:
    """Why the job a clone call (or a search for a lost one) named cannot be the new clone."""
    if clone_id == base_id:
        return f"job {clone_id} is the job it was cloned from"
    if clone_id in ground.seen:
        return f"job {clone_id} existed before the clone call"
    if clone_id in set((ground.sources or {}).values()):
        return f"job {clone_id} is a source a spec names"
    for address, entry in sorted(entries.items()):
        if clone_id in (entry.source_id, entry.clone_id, *entry.superseded, *entry.retired_clones):
            return f"job {clone_id} is already in state (for {address})"
    return None
