"""Observe and plan: read the live jobs the specs and state name, then plan; and drift."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from jobspec.api import Api
from jobspec.drift import Drift, find_drift
from jobspec.errors import UsageError
from jobspec.model import DesiredJob, LiveJob, StateEntry
from jobspec.netaddr import server_identity
from jobspec.plan import Plan, PlanOptions
from jobspec.planner import clones_anything, listed_view, make_plan, needed_job_ids, needs_every_job
from jobspec.state import State

__all__ = ["Observed", "drift", "observe", "select"]


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
    api: Api,
    *,
    desired: Mapping[str, DesiredJob],
    state: State,
    options: PlanOptions | None = None,
) -> Observed:
    """Read the live jobs the specs and state name, in bulk where cheaper, and plan.

    When a desired clone may run on a schedule, every live job is read instead (one paged
    listing: 5 requests for 5,000 jobs), so the plan can refuse transfer conflicts.
    """
    options = options or PlanOptions()
    targets, replace, accept_source = options.targets, options.replace, options.accept_source
    state.check_ownership()
    state.check_server(server_identity(api.server))
    select(desired, state.entries, targets)
    for flag, addresses in (("--replace", replace), ("--accept-source-drift", accept_source)):
        unknown = sorted(set(addresses) - {a for a in desired if a in state.entries})
        if unknown:
            raise UsageError(
                f"{flag} names no address with a spec and a clone in state: {', '.join(unknown)}",
                hint="see `jobspec state list`",
            )
    wanted = {a: d for a, d in desired.items() if not targets or a in targets}
    prior = {a: e for a, e in state.entries.items() if not targets or a in targets}
    # A clone may run on a schedule (the conflict check), or an address has no clone yet
    # (the name check): either needs every live job, read in one paged listing.
    every = needs_every_job(wanted) or any(address not in prior for address in wanted)
    whole = needed_job_ids(desired, state.entries)

    def keep(raw: dict[str, Any]) -> dict[str, Any]:
        """Whole for the jobs the plan names; of the others, what it reads (`listed_view`)."""
        return raw if raw.get("id") in whole else listed_view(raw)

    if every:
        live = {job.id: job for job in await api.list_jobs(keep=keep)}
        # A job the plan needs but the listing lacks is confirmed gone with a GET before the
        # plan acts on its absence: a listing may skip a job it could not read.
        absent = needed_job_ids(wanted, prior) - live.keys()
        if absent:
            live |= await api.get_jobs(absent)
    else:
        live = await api.get_jobs(needed_job_ids(wanted, prior))
    interrupted = {
        intent.address: str(intent.details["name"])
        for intent in state.pending_intents()
        if intent.op == "clone" and isinstance(intent.details.get("name"), str)
    }

    def plan_with(live: Mapping[str, LiveJob]) -> Plan:
        return make_plan(
            desired=desired,
            prior=state.entries,
            live=live,
            lineage=state.lineage,
            serial=state.serial,
            options=options,
            interrupted=interrupted,
        )

    plan = plan_with(live)
    if not every and clones_anything(plan):  # a replace or a lost clone: check its name
        live = {**{job.id: job for job in await api.list_jobs(keep=keep)}, **live}
        plan = plan_with(live)
    plan = plan.model_copy(update={"server": server_identity(api.server)})
    return Observed(plan=plan, live=live)


async def drift(
    api: Api,
    *,
    desired: Mapping[str, DesiredJob],
    state: State,
    targets: tuple[str, ...] = (),
) -> list[Drift]:
    """What changed outside jobspec, and who moved: read-only."""
    options = PlanOptions(targets=targets)
    observed = await observe(api, desired=desired, state=state, options=options)
    return find_drift(observed.plan, prior=state.entries, live=observed.live)
