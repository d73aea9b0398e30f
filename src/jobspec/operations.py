"""The sequences behind `plan`, `apply`, `show` and `import`: glue between the parts.

specs + state + live jobs → planner → plan; plan + lock → applier → state. Nothing here prints
or exits (the CLI does); progress goes out through a callback.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from jobspec.applier import Report, recover
from jobspec.client import DryvIQClient
from jobspec.errors import StalePlanError, UsageError
from jobspec.model import DesiredJob, LiveJob, StateEntry, digest
from jobspec.plan import Plan
from jobspec.planner import make_plan, needed_job_ids, needs_every_job
from jobspec.state import State, StateSession


@dataclass(frozen=True)
class Observed:
    """A plan and the live jobs it was made from."""

    plan: Plan
    live: Mapping[str, LiveJob]


def select(
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    targets: Collection[str] | None,
) -> None:
    """Refuse `--target` addresses that are neither in the specs nor in state."""
    if not targets:
        return
    unknown = sorted(set(targets) - desired.keys() - prior.keys())
    if unknown:
        raise UsageError(
            f"--target names no spec and no state entry: {', '.join(unknown)}",
            hint="targets are spec addresses, as in `jobspec state list`",
        )


async def observe(
    api: DryvIQClient,
    *,
    desired: Mapping[str, DesiredJob],
    state: State,
    prune: bool = False,
    targets: Collection[str] | None = None,
) -> Observed:
    """Read the live jobs the specs and state name, in bulk where cheaper, and plan.

    When a desired clone may run on a schedule, every live job is read instead (one paged
    listing: 5 requests for 5,000 jobs), so the plan can refuse transfer conflicts.
    """
    select(desired, state.entries, targets)
    wanted = {a: d for a, d in desired.items() if not targets or a in targets}
    prior = {a: e for a, e in state.entries.items() if not targets or a in targets}
    if needs_every_job(wanted):  # a clone may run on a schedule: check it against every job
        live = {job.id: job for job in await api.list_jobs()}
    else:
        live = await api.get_jobs(needed_job_ids(wanted, prior))
    plan = make_plan(
        desired=desired,
        prior=state.entries,
        live=live,
        lineage=state.lineage,
        serial=state.serial,
        prune=prune,
        targets=targets or None,
    )
    return Observed(plan=plan, live=live)


async def settle_interrupted(
    session: StateSession, api: DryvIQClient, report: Report, *, settle: float
) -> None:
    """Resolve what an interrupted run left pending, before anything is planned or sent."""
    for note in await recover(session, api=api, settle=settle):
        address, _, message = note.partition(": ")
        report(address, message)


async def check_fresh(plan: Plan, state: State, api: DryvIQClient) -> None:
    """Refuse a saved plan whose state or jobs have moved since it was made, saying what moved."""
    if plan.lineage is not None:
        state.check_lineage(plan.lineage)
    if state.serial != plan.serial or state.lineage != plan.lineage:
        raise StalePlanError(
            f"the state moved from serial {plan.serial} to {state.serial} since the plan was made",
            hint="the plan was applied already, or another run changed the state; plan again",
        )
    if state.pending_intents():
        raise StalePlanError(
            "the state records calls an interrupted run left unfinished",
            hint="run `jobspec apply` without a plan file (it settles them first), or plan again",
        )
    live = await api.get_jobs(plan.fingerprints.keys())
    moved = []
    for job_id, before in sorted(plan.fingerprints.items()):
        job = live.get(job_id)
        now = job.fingerprint() if job else None
        if now != before:
            what = "appeared" if before is None else "was deleted" if now is None else "changed"
            moved.append(f"job {job_id} {what}")
    if moved:
        shown = "; ".join(moved[:10]) + (f"; and {len(moved) - 10} more" if len(moved) > 10 else "")
        raise StalePlanError(
            f"{len(moved)} job(s) moved since the plan was made: {shown}",
            hint="plan again to see the current differences",
        )


async def import_clone(
    session: StateSession, api: DryvIQClient, *, wanted: DesiredJob, job_id: str
) -> StateEntry:
    """Adopt an existing job as the clone of `wanted`; the next plan verifies its fields."""
    job = await api.get_job(job_id)
    if job is None:
        raise UsageError(f"job {job_id} does not exist on the server")
    if job_id == wanted.spec.source:
        raise UsageError(
            f"job {job_id} is the source of {wanted.address}, not a clone of it",
            hint="import the clone's id; the source is what the spec clones",
        )
    entry = StateEntry(
        source_id=wanted.spec.source,
        clone_id=job.id,
        original=wanted.spec.original,
        applied={},
        applied_digest=digest({}),
    )
    session.put(wanted.address, entry)
    return entry
