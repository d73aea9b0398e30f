"""The apply sequence: lock the state, check a saved plan or plan afresh, confirm, apply.

Nothing here prints: what a person sees goes out through an `ApplyListener`
(`views.listeners` has the human and the JSON one).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Protocol

from jobspec.api import Api
from jobspec.applier import ApplyResult, Report, apply_plan, recover
from jobspec.checks.planfile import (
    check_clone_names,
    check_plan_shape,
    check_specs_unchanged,
    clone_names,
)
from jobspec.commands.observe import has_backup, observe
from jobspec.errors import StalePlanError, UsageError
from jobspec.firstrun import RunWait
from jobspec.gate import Ground
from jobspec.idle import IdleWait
from jobspec.model import DesiredJob
from jobspec.netaddr import server_identity
from jobspec.plan import Plan, PlanOptions, Step
from jobspec.planner import listed_view, placements_digest
from jobspec.state import LockInfo, State, StateSession, StateStore

__all__ = [
    "ApplyListener",
    "ApplyOptions",
    "ApplyOutcome",
    "QuietListener",
    "apply",
    "check_fresh",
    "settle_interrupted",
]


async def settle_interrupted(
    session: StateSession,
    api: Api,
    report: Report,
    *,
    settle: float,
    sources: set[str] | None = None,
) -> dict[str, str]:
    """Resolve what an interrupted run left pending, before anything is planned or sent.

    Returns the addresses whose interrupted clone could not be settled (→ why): they wait,
    the others apply. `sources`: jobs the spec files name as sources (never a clone).
    """
    unsettled: dict[str, str] = {}
    for note in await recover(
        session, api=api, settle=settle, sources=sources, unsettled=unsettled
    ):
        address, _, message = note.partition(": ")
        report(address, message)
    return unsettled


async def check_fresh(
    plan: Plan,
    state: State,
    api: Api,
    *,
    desired: Mapping[str, DesiredJob] | None = None,
) -> frozenset[str]:
    """Refuse a saved plan that is not sound, or whose world has moved since it was made.

    A plan file is checked, not trusted: offline first (its shape, every step's target against
    state, and, given the spec files now as `desired`, whether they changed since), then the
    state's lineage and serial, then every job it read (those it fingerprinted one by one, and
    where every live job writes when its transfer-conflict check read them all), and last
    that no job state does not know has taken a name the plan's clones will have. Returns
    the ids of the jobs it read (the gate's `seen`).
    """
    server = server_identity(api.server)
    if plan.server != server:
        made = f"made against {plan.server}" if plan.server else "records no server"
        raise StalePlanError(
            f"the plan was {made}, not {server}" if plan.server else f"the plan {made}",
            hint="a plan applies only to the server it was made against; plan again there",
        )
    state.check_ownership()
    state.check_server(server)
    check_plan_shape(plan, state)
    if desired is not None:
        check_specs_unchanged(plan, desired)
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
    # Of every other job, only what these two checks read (`listed_view`: its identity and
    # where it writes): the jobs the plan names were read whole above.
    listed = plan.placements is not None or clone_names(plan)
    every = await api.list_jobs(keep=listed_view) if listed else []
    if plan.placements is not None and placements_digest(every) != plan.placements:
        raise StalePlanError(
            "a job that runs on a schedule was moved, added or deleted, or a job was put on "
            "a schedule, since the plan was made (the transfer-conflict check compared the "
            f"clones with every scheduled job; {len(every)} live jobs now)",
            hint="plan again: the clones may now overlap a job that runs on a schedule",
        )
    check_clone_names(plan, state, every)
    return frozenset(live) | {job.id for job in every}


class ApplyListener(Protocol):
    """What `apply` tells the person running it, and the one question it asks."""

    def lock_wait(self, holder: LockInfo) -> None:
        """The state lock is held by `holder`; apply waits for it."""

    def warning(self, text: str) -> None:
        """Something the store noticed while opening the state (e.g. a repaired journal)."""

    def step(self, address: str, message: str) -> None:
        """A step done: settling an interrupted call, a clone, a patch, a retire …"""

    def planned(self, plan: Plan) -> None:
        """A fresh plan was made (not for a saved plan): show it before asking."""

    def confirm(self, plan: Plan) -> bool:
        """May this plan, which has changes, be applied?"""

    def applying(self, plan: Plan) -> AbstractContextManager[None]:
        """Around the run of `plan`'s steps (a progress bar starts and stops here)."""

    def done(self, address: str, ok: bool) -> None:
        """One address finished."""

    def step_event(self, address: str, step: Step, status: str, detail: str | None) -> None:
        """A step started, finished or failed (see `applier.StepHook`)."""


class QuietListener:
    """An `ApplyListener` that approves everything and says nothing (tests, libraries)."""

    def lock_wait(self, holder: LockInfo) -> None:
        pass

    def warning(self, text: str) -> None:
        pass

    def step(self, address: str, message: str) -> None:
        pass

    def planned(self, plan: Plan) -> None:
        pass

    def confirm(self, plan: Plan) -> bool:
        return True

    def applying(self, plan: Plan) -> AbstractContextManager[None]:
        return nullcontext()

    def done(self, address: str, ok: bool) -> None:
        pass

    def step_event(self, address: str, step: Step, status: str, detail: str | None) -> None:
        pass


@dataclass(frozen=True)
class ApplyOutcome:
    """The plan that was run (or found empty), and its result (None: nothing to apply)."""

    plan: Plan
    result: ApplyResult | None


@dataclass(frozen=True, kw_only=True)
class ApplyOptions:
    """How apply runs; the defaults are the CLI's."""

    concurrency: int = 8
    settle: float = 30.0
    lock_timeout: float = 0.0
    plan: PlanOptions = field(default_factory=PlanOptions)
    idle: IdleWait = field(default_factory=IdleWait)
    runs: RunWait = field(default_factory=RunWait)
    """How long verified cutovers wait for their clone's first run (`apply --wait`)."""


async def apply(
    api: Api,
    store: StateStore,
    *,
    desired: Mapping[str, DesiredJob] | None = None,
    saved: Plan | None = None,
    options: ApplyOptions | None = None,
    listener: ApplyListener | None = None,
) -> ApplyOutcome:
    """Lock the state, then run a saved plan (checked fresh) or plan and confirm, then apply.

    With `saved` (a reviewed plan file), `desired` is optional: the spec files as they are now,
    to refuse the plan if they changed since. Without it, `desired` is what to plan. With a
    fresh plan, what an interrupted run left pending is settled first; a plan with no changes
    returns at once (`result` None); a plan the listener does not confirm raises UsageError.
    """
    if desired is None and saved is None:
        raise ValueError("apply takes desired specs, a saved plan, or both")
    options = options or ApplyOptions()
    if saved is not None and options.plan.shapes:
        raise UsageError(
            "--target, --prune, --replace and --accept-source-drift shape a new plan; "
            "a saved plan runs as it is"
        )
    hear = listener or QuietListener()
    with store.lock(
        timeout=options.lock_timeout, operation="apply", on_wait=hear.lock_wait
    ) as session:
        for warning in session.warnings:
            hear.warning(warning)
        sources = None if desired is None else {a: d.spec.source for a, d in desired.items()}
        unsettled: dict[str, str] = {}
        if saved is not None:
            seen = await check_fresh(saved, session.state, api, desired=desired)
            plan = saved
        else:
            assert desired is not None and sources is not None
            unsettled = await settle_interrupted(
                session, api, hear.step, settle=options.settle, sources=set(sources.values())
            )
            shape = _settled_only(options.plan, unsettled, [*desired, *session.state.entries])
            if shape is None:  # every address waits for its interrupted clone
                plan = Plan(lineage=session.state.lineage, serial=session.state.serial)
                return ApplyOutcome(plan=plan, result=_unsettled(ApplyResult(), unsettled, hear))
            observed = await observe(
                api,
                desired=desired,
                state=session.state,
                options=shape,
                backup=has_backup(store),
            )
            plan, seen = observed.plan, frozenset(observed.live)
            hear.planned(plan)
            if not plan.has_changes:
                result = _unsettled(ApplyResult(), unsettled, hear) if unsettled else None
                return ApplyOutcome(plan=plan, result=result)
            if not hear.confirm(plan):
                raise UsageError("apply cancelled; nothing was changed")
        session.set_server(server_identity(api.server))  # checked above; recorded once
        with hear.applying(plan):
            result = await apply_plan(
                plan,
                api=api,
                journal=session,
                concurrency=options.concurrency,
                settle=options.settle,
                report=hear.step,
                on_done=hear.done,
                idle=options.idle,
                on_step=hear.step_event,
                runs=options.runs,
                ground=Ground.of(
                    sources=sources, entries=session.entries, seen=seen, moves=_moves(desired)
                ),
            )
        return ApplyOutcome(plan=plan, result=_unsettled(result, unsettled, hear))


def _moves(desired: Mapping[str, DesiredJob] | None) -> dict[str, str]:
    """Old address → new, as the spec files' `moved_from:` say (none without the files)."""
    if desired is None:
        return {}
    return {old: new for new, wanted in desired.items() for old in wanted.spec.moved_from}


def _settled_only(
    shape: PlanOptions, unsettled: Mapping[str, str], addresses: list[str]
) -> PlanOptions | None:
    """The plan's shape without the addresses whose interrupted clone is unsettled (None:
    nothing is left to plan). Planned, such an address would clone again."""
    if not unsettled:
        return shape
    wanted = set(shape.targets or addresses) - unsettled.keys()
    if not wanted:
        return None
    return replace(shape, targets=tuple(sorted(wanted)))


def _unsettled(
    result: ApplyResult, unsettled: Mapping[str, str], hear: ApplyListener
) -> ApplyResult:
    """`result` with each unsettled address as a failure: it waits, it is not done."""
    for address, why in sorted(unsettled.items()):
        message = (
            f"an interrupted clone is still unsettled ({why}); nothing was sent for it: "
            f"`jobspec state rm {address}` clears the intent, then `jobspec import "
            f"{address} ID` adopts the clone if one was made"
        )
        result.counts["failed"] += 1
        result.failures.append((address, message))
        hear.step(address, f"failed: {message}")
        hear.done(address, False)
    result.failures.sort()
    return result
