"""The sequences behind the commands: plan, apply, import, drift and the state commands.

specs + state + live jobs → planner → plan; plan + lock → applier → state. Each sequence is a
function that takes its collaborators (an `Api`, a `StateStore`, callbacks), so it is tested
directly, without the CLI. Nothing here prints or exits: what a person sees goes out through
an `ApplyListener` (apply) or comes back as a value the CLI hands to `views`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from jobspec.api import Api
from jobspec.applier import ApplyResult, Report, apply_plan, recover
from jobspec.drift import Drift, find_drift
from jobspec.errors import StalePlanError, UsageError
from jobspec.files import atomic_write
from jobspec.idle import IdleWait
from jobspec.model import JOB_ID_RE, DesiredJob, LiveJob, StateEntry, digest
from jobspec.plan import PLAN_FORMAT_VERSION, Plan
from jobspec.planner import make_plan, needed_job_ids, needs_every_job
from jobspec.spec import format_spec_text, spec_files
from jobspec.state import (
    LockInfo,
    State,
    StateSession,
    StateStore,
    Transfer,
    is_database_url,
    open_state_store,
    transfer_state,
)

__all__ = [
    "ApplyListener",
    "ApplyOptions",
    "ApplyOutcome",
    "Observed",
    "QuietListener",
    "StateCopy",
    "apply",
    "check_fresh",
    "check_import",
    "check_job_id",
    "copy_state",
    "drift",
    "forget",
    "format_specs",
    "import_clone",
    "import_job",
    "observe",
    "read_plan_file",
    "save_plan_file",
    "select",
    "settle_interrupted",
]


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


async def drift(
    api: Api,
    *,
    desired: Mapping[str, DesiredJob],
    state: State,
    targets: Collection[str] | None = None,
) -> list[Drift]:
    """What changed outside jobspec, and who moved: read-only."""
    observed = await observe(api, desired=desired, state=state, targets=targets)
    return find_drift(observed.plan, prior=state.entries, live=observed.live)


async def settle_interrupted(
    session: StateSession, api: Api, report: Report, *, settle: float
) -> None:
    """Resolve what an interrupted run left pending, before anything is planned or sent."""
    for note in await recover(session, api=api, settle=settle):
        address, _, message = note.partition(": ")
        report(address, message)


async def check_fresh(plan: Plan, state: State, api: Api) -> None:
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


# --- apply --------------------------------------------------------------------------------------


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
    prune: bool = False
    targets: tuple[str, ...] = ()
    idle: IdleWait = field(default_factory=IdleWait)


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

    Exactly one of `desired` (plan now) and `saved` (a reviewed plan file) is given. With a
    fresh plan, what an interrupted run left pending is settled first; a plan with no changes
    returns at once (`result` None); a plan the listener does not confirm raises UsageError.
    """
    if (desired is None) == (saved is None):
        raise ValueError("apply takes either desired specs or a saved plan")
    options = options or ApplyOptions()
    if saved is not None and (options.targets or options.prune):
        raise UsageError("--target and --prune shape a new plan; a saved plan runs as it is")
    hear = listener or QuietListener()
    with store.lock(
        timeout=options.lock_timeout, operation="apply", on_wait=hear.lock_wait
    ) as session:
        for warning in session.warnings:
            hear.warning(warning)
        if saved is not None:
            await check_fresh(saved, session.state, api)
            plan = saved
        else:
            assert desired is not None
            await settle_interrupted(session, api, hear.step, settle=options.settle)
            observed = await observe(
                api,
                desired=desired,
                state=session.state,
                prune=options.prune,
                targets=options.targets,
            )
            plan = observed.plan
            hear.planned(plan)
            if not plan.has_changes:
                return ApplyOutcome(plan=plan, result=None)
            if not hear.confirm(plan):
                raise UsageError("apply cancelled; nothing was changed")
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
            )
        return ApplyOutcome(plan=plan, result=result)


# --- import -------------------------------------------------------------------------------------


async def import_clone(
    session: StateSession, api: Api, *, wanted: DesiredJob, job_id: str
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


def check_job_id(job_id: str) -> None:
    """Refuse what is not a job id, before any setting is read or call made."""
    if not JOB_ID_RE.match(job_id):
        raise UsageError(f"{job_id!r} is not a job id (32 hex digits)")


def check_import(desired: Mapping[str, DesiredJob], *, address: str, job_id: str) -> DesiredJob:
    """The spec `address` names, once the id looks like a job id; offline, before any call."""
    check_job_id(job_id)
    if address not in desired:
        raise UsageError(
            f"no spec has the address {address}", hint="import needs the spec written first"
        )
    return desired[address]


async def import_job(
    api: Api,
    store: StateStore,
    *,
    desired: Mapping[str, DesiredJob],
    address: str,
    job_id: str,
    lock_timeout: float = 0.0,
) -> StateEntry:
    """`jobspec import`: under the lock, adopt `job_id` as the clone of `address`."""
    wanted = check_import(desired, address=address, job_id=job_id)
    with store.lock(timeout=lock_timeout, operation="import") as session:
        if address in session.entries:
            raise UsageError(
                f"{address} already has clone {session.entries[address].clone_id}",
                hint=f"`jobspec state rm {address}` first to replace it",
            )
        return await import_clone(session, api, wanted=wanted, job_id=job_id)


# --- state commands -----------------------------------------------------------------------------


def forget(store: StateStore, *, address: str, lock_timeout: float = 0.0) -> str:
    """`jobspec state rm`: drop `address` from state, leaving its clone; returns the clone id."""
    with store.lock(timeout=lock_timeout, operation="state rm") as session:
        if address not in session.entries:
            raise UsageError(f"no state entry for {address}", hint="see `jobspec state list`")
        clone = session.entries[address].clone_id
        session.remove(address)
    return clone


@dataclass(frozen=True)
class StateCopy:
    """What `state push` / `state pull` did, between which locations."""

    origin: str
    destination: str
    transfer: Transfer


def copy_state(
    configured: StateStore,
    *,
    source: str | None,
    target: str | None,
    force: bool,
    lock_timeout: float = 0.0,
) -> StateCopy:
    """`state push SOURCE` (target None) or `state pull TARGET` (source None)."""
    what = "push" if target is None else "pull"
    for given in (source, target):
        if given is not None and not is_database_url(given) and not Path(given).parent.is_dir():
            raise UsageError(f"directory {Path(given).parent} does not exist")
    if source is not None and not is_database_url(source) and not Path(source).exists():
        raise UsageError(f"state file {source} does not exist", hint="nothing to push")
    origin = configured if source is None else open_state_store(source)
    destination = configured if target is None else open_state_store(target)
    done = transfer_state(
        source=origin, target=destination, force=force, what=what, lock_timeout=lock_timeout
    )
    return StateCopy(origin=origin.location, destination=destination.location, transfer=done)


# --- plan files and spec files ------------------------------------------------------------------


def read_plan_file(path: Path) -> Plan:
    """A saved plan, or UsageError when the file is missing, not a plan, or from a newer jobspec."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read plan file {path}: {exc.strerror}") from exc
    try:
        plan = Plan.from_json(text)
    except (ValidationError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a jobspec plan file",
            hint="save one with `jobspec plan --out FILE`",
        ) from exc
    if plan.format_version > PLAN_FORMAT_VERSION:
        raise UsageError(
            f"{path} has plan format {plan.format_version}; this jobspec reads "
            f"{PLAN_FORMAT_VERSION}",
            hint="apply it with the jobspec version that made it",
        )
    return plan


def save_plan_file(plan: Plan, path: Path, *, scrub: Callable[[str], str] | None = None) -> None:
    """Write `plan` for `jobspec apply FILE`, atomically (a reader never sees half a plan).

    `scrub` takes any known secret a server slipped into a name out of the file.
    """
    text = plan.to_json()
    try:
        atomic_write(path, [(scrub(text) if scrub else text).encode()])
    except OSError as exc:
        raise UsageError(
            f"cannot write the plan to {path}: {exc.strerror}",
            hint="--out names a file in a folder that exists",
        ) from None


def format_specs(directory: Path, *, check: bool) -> list[Path]:
    """`jobspec fmt`: the spec files not in canonical form, rewritten unless `check`.

    Only valid specs are rewritten: the caller loads them first.
    """
    changed = []
    for path in spec_files(directory):
        text = path.read_text(encoding="utf-8")
        formatted = format_spec_text(text)
        if formatted == text:
            continue
        changed.append(path)
        if not check:
            atomic_write(path, [formatted.encode("utf-8")])
    return changed
