"""The one gate in front of every mutating call: each target justified, never taken on trust.

The applier asks `refusal` before every clone, PATCH and DELETE (a retire), and `not_new`
before it records a clone. Both decide from three things only: the spec files as they are
now (`Ground.sources`), the state (the address's entry as it stands at that step, and an
index of who claims which job, built once when the apply starts, plus the clones the run
has made since: `Ground.of`, so that a check is a lookup), and the jobs this run saw before
its own clone call (`Ground.seen`). A plan, a plan file, a clone reply or a recovery search
only proposes a target; none of them can make a job "ours". Pure: table-tested.

The rules (docs/reliability.md lists them too):

1. A clone is made only from the address's source as its spec file names it now (or,
   without the spec files, as state records it), or from its own recorded clone.
2. A PATCH goes only to the clone state records for the address (so do a verified
   cutover's start of the clone's first run, and the PATCH that parks a failed clone).
3. A retire of the original (and a verified cutover's hold or restore of its schedule) goes
   only to the source state records for the address, which
   must also be the source its spec file names now; a retire of an old clone only to one
   state lists as replaced for the address; a prune only to the address's recorded clone.
4. No PATCH or retire touches a job another address's spec names as a source, or that
   state records as another address's clone (current, replaced or retired) or this run
   made for another address, nor any job while the address's own recorded clone is such a
   job (a mistaken adoption).
5. A clone is new only if it is not the job it was cloned from, not a job seen before the
   call, not a spec's source, not a job state knows and not a clone this run recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from jobspec.model import StateEntry
from jobspec.plan import Step, StepOp

__all__ = ["Ground", "not_new", "refusal"]


CLONE, REPLACED, RETIRED, STATE_SOURCE, SPEC_SOURCE = (
    "clone",
    "replaced",
    "retired",
    "state source",
    "spec source",
)
_WORDS = {
    CLONE: "the clone state records for {address}",
    REPLACED: "a replaced clone state records for {address}",
    RETIRED: "a retired clone state records for {address}",
    STATE_SOURCE: "the source state records for {address}",
    SPEC_SOURCE: "the source {address}'s spec names",
}


@dataclass(frozen=True, kw_only=True)
class Ground:
    """What the gate justifies targets from, built once per apply (`Ground.of`).

    `sources`: each address's source id in the spec files now; None when the spec files were
    not read (a saved plan applied without them): then only state can justify a target.
    `seen`: every job id this run read before applying (the plan's listing and reads).
    `claims`: job id → (address, what it is to that address), from the specs and the state
    the run started from; `made`: the clones this run recorded (the applier adds each).
    """

    sources: Mapping[str, str] | None = None
    seen: frozenset[str] = field(default_factory=frozenset)
    claims: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    made: set[str] = field(default_factory=set)

    @classmethod
    def of(
        cls,
        *,
        sources: Mapping[str, str] | None,
        entries: Mapping[str, StateEntry],
        seen: frozenset[str] = frozenset(),
        moves: Mapping[str, str] | None = None,
    ) -> Ground:
        """The ground of one apply: an index of who claims which job, so that each check
        is a lookup (10,000 addresses, not 10,000 squared).

        `moves` (old address → new, from the spec files' `moved_from:`) hands an old
        address's claims to its new one, so the moved clone is the new address's to patch.
        """
        found: dict[str, list[tuple[str, str]]] = {}
        renamed = moves or {}
        for old, entry in sorted(entries.items()):
            address = renamed.get(old, old)
            found.setdefault(entry.clone_id, []).append((address, CLONE))
            for job_id in entry.superseded:
                found.setdefault(job_id, []).append((address, REPLACED))
            for job_id in entry.retired_clones:
                found.setdefault(job_id, []).append((address, RETIRED))
            found.setdefault(entry.source_id, []).append((address, STATE_SOURCE))
        for address, source in sorted((sources or {}).items()):
            found.setdefault(source, []).append((address, SPEC_SOURCE))
        return cls(
            sources=sources,
            seen=seen,
            claims={job_id: tuple(claims) for job_id, claims in found.items()},
        )

    def claim_of_another(self, job_id: str, *, address: str) -> str | None:
        """Whose `job_id` is, when another address's spec or state entry claims it (a source
        state records excepted: that is the spec's business, checked as a source)."""
        for other, kind in self.claims.get(job_id, ()):
            if other != address and kind != STATE_SOURCE:
                return _WORDS[kind].format(address=other)
        return None

    def is_spec_source(self, job_id: str) -> bool:
        return any(kind == SPEC_SOURCE for _, kind in self.claims.get(job_id, ()))


# A verified cutover's calls are gated like the rest: `start` (PATCH ?start=1) and `await_run`
# (which parks a failed clone on manual) go to the recorded clone as a PATCH does; `hold` and
# `restore` (the original's schedule) to the recorded original as its retire does.
_CLONE_CALLS = frozenset({StepOp.patch, StepOp.start, StepOp.await_run})
_MUTATING = frozenset({StepOp.clone, StepOp.retire, StepOp.hold, StepOp.restore, *_CLONE_CALLS})


def refusal(*, address: str, step: Step, ground: Ground, entry: StateEntry | None) -> str | None:
    """Why the mutating `step` of `address` must not be sent; None when its target is justified.

    `entry` is the address's state entry as it stands now (after its earlier steps).
    """
    target = step.job_id
    if step.op not in _MUTATING or target is None:
        return None
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
    mistaken = ground.claim_of_another(entry.clone_id, address=address)
    if mistaken is not None or ground.is_spec_source(entry.clone_id):
        return (
            f"the clone state records for {address}, job {entry.clone_id}, is "
            f"{mistaken or 'a source a spec names'}: it was never this address's clone"
        )
    whose = ground.claim_of_another(target, address=address)
    if whose is not None:
        return f"job {target} is {whose}"
    if target in ground.made and target != entry.clone_id:
        return f"job {target} is a clone this run made for another address"
    if step.op in _CLONE_CALLS:
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
    if ground.is_spec_source(target):
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


def not_new(*, clone_id: str, base_id: str, ground: Ground) -> str | None:
    """Why the job a clone call (or a search for a lost one) named cannot be the new clone."""
    if clone_id == base_id:
        return f"job {clone_id} is the job it was cloned from"
    if clone_id in ground.seen:
        return f"job {clone_id} existed before the clone call"
    if clone_id in ground.made:
        return f"job {clone_id} is a clone this run already recorded"
    for address, kind in ground.claims.get(clone_id, ()):
        return f"job {clone_id} is {_WORDS[kind].format(address=address)}"
    return None
