"""Observe and plan: read the live jobs the specs and state name, then plan; and drift."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from jobspec.api import Api
from jobspec.collector import paused
from jobspec.connections import names_a_connection, unchecked
from jobspec.drift import Drift, find_drift
from jobspec.errors import PlanError, UsageError
from jobspec.model import CUTOVER_PENDING, DesiredJob, LiveJob, StateEntry
from jobspec.netaddr import server_identity
from jobspec.plan import Plan, PlanOptions
from jobspec.planner import clones_anything, listed_view, make_plan, needed_job_ids, needs_every_job
from jobspec.state import State

__all__ = ["Observed", "drift", "has_backup", "lost_state_refusal", "observe", "select"]


def has_backup(store: object) -> bool:
    """Whether the state store keeps a backup file that `jobspec state restore` brings back."""
    path = getattr(store, "backup_path", None)
    return bool(path is not None and path.exists())


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
    backup: bool = False,
) -> Observed:
    """Read the live jobs the specs and state name, in bulk where cheaper, and plan.

    `backup`: whether the state has a backup to restore, named first when a lost state is
    why the plan is refused (`lost_state_refusal`).

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
    runs = await _cutover_runs(api, prior, live)
    # A spec naming a connection: the plan checks it exists (or resolves its name) and names it.
    asked = names_a_connection(wanted.values())
    connections = await api.list_connections() if asked else None
    interrupted = {
        intent.address: str(intent.details["name"])
        for intent in state.pending_intents()
        if intent.op == "clone" and isinstance(intent.details.get("name"), str)
    }

    def plan_with(live: Mapping[str, LiveJob]) -> Plan:
        with paused():  # the planner is pure: what it makes lives on, or is freed by refcount
            return make_plan(
                desired=desired,
                prior=state.entries,
                live=live,
                lineage=state.lineage,
                serial=state.serial,
                options=options,
                interrupted=interrupted,
                runs=runs,
                connections=connections,
            )

    try:
        plan = plan_with(live)
        if not every and clones_anything(plan):  # a replace or a lost clone: check its name
            live = {**{job.id: job for job in await api.list_jobs(keep=keep)}, **live}
            plan = plan_with(live)
    except PlanError as exc:
        raise lost_state_refusal(exc, empty=not state.entries, backup=backup) from None
    if asked and connections is None:  # a server without the route: say what went unchecked
        warned = [*plan.warnings, *unchecked(wanted[a] for a in sorted(wanted))]
        plan = plan.model_copy(update={"warnings": warned})
    plan = plan.model_copy(update={"server": server_identity(api.server)})
    return Observed(plan=plan, live=live)


SHOWN_ADDRESSES = 10


def lost_state_refusal(exc: PlanError, *, empty: bool, backup: bool) -> PlanError:
    """A refusal that leads, when clones exist that state does not know (a lost state, or a
    restore older than the last apply): the command to run first, at most 10 addresses, and
    the count of the rest, instead of one `jobspec import` per clone. Others stay as they are.

    With an empty state and a backup beside it, the command is `jobspec state restore`; else
    `jobspec import --discover`.
    """
    strays = exc.strays
    if not strays or not (empty or len(strays) > SHOWN_ADDRESSES):
        return exc
    count = len(strays)
    jobs = "1 spec's clone already exists" if count == 1 else f"{count} specs' clones already exist"
    why = "the state is missing or empty" if empty else "state does not know them"
    if empty and backup:
        lead = "run `jobspec state restore` first: a backup of the state is beside it"
        hint = (
            "restore brings the backup back; if it is older than the last apply, `jobspec "
            "import --discover` then adopts the clones it lacks; nothing was applied"
        )
    else:
        lead = "run `jobspec import --discover` first"
        hint = (
            "it adopts, for every spec, the live job bearing its clone name, each checked as "
            "`jobspec import` checks one; nothing was applied"
        )
    lines = [f"cannot plan: {lead}: {jobs} on the server ({why})"]
    shown = sorted(strays.items())[:SHOWN_ADDRESSES]
    lines += [
        f"  {address}: job {job_id} (alone: `jobspec import {address} {job_id}`)"
        for address, job_id in shown
    ]
    if count > SHOWN_ADDRESSES:
        lines.append(f"  and {count - SHOWN_ADDRESSES:,} more")
    others = len(exc.problems) - count
    if others > 0:
        noun = "problem" if others == 1 else "problems"
        lines.append(f"  ({others:,} other {noun}: plan again afterwards to see them)")
    return PlanError(exc.problems, hint=hint, strays=strays, message="\n".join(lines))


async def _cutover_runs(
    api: Api, prior: Mapping[str, StateEntry], live: Mapping[str, LiveJob]
) -> dict[str, dict[str, Any]]:
    """The latest run of each clone whose verified cutover is under way, for the plan's note."""
    runs: dict[str, dict[str, Any]] = {}
    for entry in prior.values():
        pending = entry.cutover is not None and entry.cutover.phase in CUTOVER_PENDING
        if pending and entry.clone_id in live:
            found = await api.latest_execution(entry.clone_id)
            if found is not None:
                runs[entry.clone_id] = found
    return runs


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
