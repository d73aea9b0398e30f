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
from typing import Any, Protocol

from pydantic import ValidationError

from jobspec import diff, generate
from jobspec.api import Api
from jobspec.applier import ApplyResult, Report, apply_plan, recover
from jobspec.drift import Drift, find_drift
from jobspec.errors import StalePlanError, UsageError
from jobspec.files import atomic_write
from jobspec.idle import IdleWait
from jobspec.model import (
    ADDRESS_RE,
    JOB_ID_RE,
    DesiredJob,
    LiveJob,
    OriginalPolicy,
    StateEntry,
    digest,
)
from jobspec.netaddr import server_identity
from jobspec.plan import PLAN_FORMAT_VERSION, Plan, PlanTampered, Step, StepOp
from jobspec.planner import (
    clones_anything,
    listed_view,
    make_plan,
    needed_job_ids,
    needs_every_job,
    observed_retirement,
    placements_digest,
    spec_digest,
)
from jobspec.settings import normalize_server
from jobspec.spec import (
    format_spec_text,
    read_pairs,
    render_generated,
    spec_files,
    yaml_value,
)
from jobspec.state import (
    FileStateStore,
    LockInfo,
    Restored,
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
    "BatchImport",
    "GenerateOutcome",
    "ImportRow",
    "Observed",
    "QuietListener",
    "StateCopy",
    "adopted_entry",
    "apply",
    "check_fresh",
    "check_generate",
    "check_import",
    "check_job_id",
    "check_rows",
    "check_unowned",
    "copy_state",
    "drift",
    "forget",
    "format_specs",
    "generate_specs",
    "import_batch",
    "import_clone",
    "import_job",
    "move_address",
    "observe",
    "read_import_file",
    "read_plan_file",
    "repoint_server",
    "restore_backup",
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
    replace: Collection[str] = (),
    accept_source: Collection[str] = (),
) -> Observed:
    """Read the live jobs the specs and state name, in bulk where cheaper, and plan.

    When a desired clone may run on a schedule, every live job is read instead (one paged
    listing: 5 requests for 5,000 jobs), so the plan can refuse transfer conflicts.
    """
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
            prune=prune,
            targets=targets or None,
            interrupted=interrupted,
            replace=replace,
            accept_source=accept_source,
        )

    plan = plan_with(live)
    if not every and clones_anything(plan):  # a replace or a lost clone: check its name
        live = {**{job.id: job for job in await api.list_jobs(keep=keep)}, **live}
        plan = plan_with(live)
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


async def check_fresh(
    plan: Plan,
    state: State,
    api: Api,
    *,
    desired: Mapping[str, DesiredJob] | None = None,
) -> None:
    """Refuse a saved plan that is not sound, or whose world has moved since it was made.

    A plan file is checked, not trusted: offline first (its shape, every step's target against
    state, and, given the spec files now as `desired`, whether they changed since), then the
    state's lineage and serial, then every job it read (those it fingerprinted one by one, and
    where every live job writes when its transfer-conflict check read them all), and last
    that no job state does not know has taken a name the plan's clones will have.
    """
    state.check_ownership()
    state.check_server(server_identity(api.server))
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
    every = await api.list_jobs() if plan.placements is not None or _names(plan) else []
    if plan.placements is not None and placements_digest(every) != plan.placements:
        raise StalePlanError(
            "a job that runs on a schedule was moved, added or deleted, or a job was put on "
            "a schedule, since the plan was made (the transfer-conflict check compared the "
            f"clones with every scheduled job; {len(every)} live jobs now)",
            hint="plan again: the clones may now overlap a job that runs on a schedule",
        )
    _check_clone_names(plan, state, every)


class _Unsound(UsageError):
    """A saved plan that no plan made against this state could be."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"the plan file is not sound: {message}",
            hint="apply only plans that `jobspec plan --out` made, unedited; plan again",
        )


def check_plan_shape(plan: Plan, state: State) -> None:
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
        entry = state.entries.get(action.address)
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


def _names(plan: Plan) -> dict[str, str]:
    """The name each clone the plan makes will have → its address."""
    return {
        str(step.body["name"]): action.address
        for action in plan.actions
        for step in action.steps
        if step.op is StepOp.clone and step.body is not None and "name" in step.body
    }


def _check_clone_names(plan: Plan, state: State, every: list[LiveJob]) -> None:
    """Refuse when a job state does not know already has a name the plan's clones will get.

    The plan checked this when it was made; a job that took the name since (or a plan
    applied again against a state that lost its clones) would otherwise be duplicated.
    `every` is every live job (read once for this and the placements check).
    """
    names = _names(plan)
    if not names:
        return
    known = set(plan.fingerprints)
    for entry in state.entries.values():
        known.update((entry.source_id, entry.clone_id, *entry.superseded))
    taken = sorted(
        (names[job.name], job.id, job.name)
        for job in every
        if job.name in names and job.id not in known
    )
    if taken:
        address, job_id, name = taken[0]
        raise StalePlanError(
            f"job {job_id} is already named {name!r}, the name the plan gives {address}'s "
            f"clone, and state does not know it ({len(taken)} such job(s))",
            hint=f"was this plan applied already, or the state lost? adopt the job with "
            f"`jobspec import {address} {job_id}`, then plan again",
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
    prune: bool = False
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    accept_source: tuple[str, ...] = ()
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

    With `saved` (a reviewed plan file), `desired` is optional: the spec files as they are now,
    to refuse the plan if they changed since. Without it, `desired` is what to plan. With a
    fresh plan, what an interrupted run left pending is settled first; a plan with no changes
    returns at once (`result` None); a plan the listener does not confirm raises UsageError.
    """
    if desired is None and saved is None:
        raise ValueError("apply takes desired specs, a saved plan, or both")
    options = options or ApplyOptions()
    shaping = options.targets or options.prune or options.replace or options.accept_source
    if saved is not None and shaping:
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
        if saved is not None:
            await check_fresh(saved, session.state, api, desired=desired)
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
                replace=options.replace,
                accept_source=options.accept_source,
            )
            plan = observed.plan
            hear.planned(plan)
            if not plan.has_changes:
                return ApplyOutcome(plan=plan, result=None)
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
            )
        return ApplyOutcome(plan=plan, result=result)


# --- import -------------------------------------------------------------------------------------


async def import_clone(
    session: StateSession,
    api: Api,
    *,
    wanted: DesiredJob,
    job_id: str,
    desired: Mapping[str, DesiredJob] | None = None,
    force: bool = False,
) -> StateEntry:
    """Adopt an existing job as the clone of `wanted`; the next plan verifies its fields.

    Refused for a job that state already holds (under any address) or that a spec clones:
    adopting it would hand one job to two owners, and the next plan could retire it as an
    "old clone". Refused too, unless `force`, for a job that cannot be a clone of the spec's
    source: another kind, or an endpoint the spec does not change that differs from the
    source's. A forced import is recorded, and every plan says so.
    """
    session.state.check_ownership()
    session.state.check_server(server_identity(api.server))
    check_unowned(session.entries, wanted=wanted, job_id=job_id, desired=desired)
    found = await api.get_jobs({job_id, wanted.spec.source})
    entry = adopted_entry(found, wanted=wanted, job_id=job_id, force=force)
    session.set_server(server_identity(api.server))
    session.put(wanted.address, entry)
    return entry


def check_unowned(
    entries: Mapping[str, StateEntry],
    *,
    wanted: DesiredJob,
    job_id: str,
    desired: Mapping[str, DesiredJob] | None = None,
) -> None:
    """Refuse a job state holds as a clone, or that state or a spec names as a source."""
    for address, entry in sorted(entries.items()):
        if job_id == entry.clone_id or job_id in entry.superseded:
            raise UsageError(
                f"job {job_id} is already the clone of {address} in state",
                hint=f"`jobspec state mv {address} {wanted.address}` moves it with its address; "
                f"or `jobspec state rm {address}` first",
            )
    sources = {entry.source_id: address for address, entry in entries.items()}
    sources.update({other.spec.source: a for a, other in (desired or {}).items()})
    if job_id in sources:
        raise UsageError(
            f"job {job_id} is the source of {sources[job_id]}, not a clone of {wanted.address}",
            hint="import the clone's id; the source is what the spec clones",
        )


def adopted_entry(
    found: Mapping[str, LiveJob], *, wanted: DesiredJob, job_id: str, force: bool
) -> StateEntry:
    """The state entry adopting `job_id` (read in `found`, with the spec's source if live).

    Refused, unless `force`, for a job that cannot have been cloned from the source.
    """
    job = found.get(job_id)
    if job is None:
        raise UsageError(f"job {job_id} does not exist on the server")
    mismatches = _not_a_clone_of(job, found.get(wanted.spec.source), wanted)
    if mismatches and not force:
        raise UsageError(
            f"job {job_id} does not look like a clone of {wanted.address}'s source "
            f"{wanted.spec.source}: {'; '.join(mismatches)}",
            hint="check the job id; if it is the right job all the same, `--force` adopts it "
            "and every plan will say so",
        )
    source = found.get(wanted.spec.source)
    applied = _as_applied(job, wanted)
    entry = StateEntry(
        source_id=wanted.spec.source,
        clone_id=job.id,
        original=wanted.spec.original,
        applied=applied,
        applied_digest=digest(applied),
        original_retired=observed_retirement(wanted.spec.original, source),
        source_digest=source.transfer_digest() if source is not None else None,
        forced_import=bool(mismatches),
    )
    return entry


def _as_applied(job: LiveJob, wanted: DesiredJob) -> dict[str, Any]:
    """The managed fields as the live job has them: what an apply would have recorded.

    An entry imported with nothing applied blamed every later difference on the spec, so
    `drift` told a server edit for a spec change; from the job itself, a difference the plan
    finds at import is the spec's (it wants other values), and one made later the server's.
    """
    pairs = [
        (path, diff.lookup(job.raw, path)) for path, _ in diff.leaves(wanted.spec.managed_body())
    ]
    return diff.nest([(path, value) for path, value in pairs if not diff.is_missing(value)])


_ENDPOINTS = (
    ("transfer", "source", "connection", "id"),
    ("transfer", "source", "target", "path"),
    ("transfer", "destination", "connection", "id"),
    ("transfer", "destination", "target", "path"),
)


def _not_a_clone_of(job: LiveJob, source: LiveJob | None, wanted: DesiredJob) -> list[str]:
    """Why `job` cannot have been cloned from the spec's source: kind, unchanged endpoints."""
    if source is None:  # deleted (original: delete): the name is what is left to compare
        name = wanted.spec.overrides.name
        if job.name == name or (name is None and job.name.endswith(f" ({wanted.address})")):
            return []
        expected = repr(name) if name is not None else f"'<source name> ({wanted.address})'"
        return [
            f"its source {wanted.spec.source} is gone, and its name {job.name!r} is not the "
            f"spec's clone name {expected}"
        ]
    found = []
    if job.kind != source.kind:
        found.append(f"kind {job.kind!r}, the source's is {source.kind!r}")
    managed = wanted.spec.managed_body()
    for path in _ENDPOINTS:
        if not diff.is_missing(diff.lookup(managed, path)):
            continue  # the spec changes this endpoint: the plan replaces the clone if it differs
        mine, theirs = diff.lookup(job.raw, path), diff.lookup(source.raw, path)
        if mine != theirs:
            found.append(f"{diff.dotted(path)} is {_shown(mine)}, the source's is {_shown(theirs)}")
    return found


def _shown(value: object) -> str:
    return "missing" if diff.is_missing(value) else repr(value)


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
    force: bool = False,
) -> StateEntry:
    """`jobspec import`: under the lock, adopt `job_id` as the clone of `address`."""
    wanted = check_import(desired, address=address, job_id=job_id)
    with store.lock(timeout=lock_timeout, operation="import") as session:
        if address in session.entries:
            raise UsageError(
                f"{address} already has clone {session.entries[address].clone_id}",
                hint=f"`jobspec state rm {address}` first to replace it",
            )
        return await import_clone(
            session, api, wanted=wanted, job_id=job_id, desired=desired, force=force
        )


@dataclass(frozen=True)
class ImportRow:
    """One row of an `import --from` file: adopt `job_id` as `address`'s clone."""

    address: str
    job_id: str
    where: str  # file:line, for messages


@dataclass(frozen=True)
class BatchImport:
    """What `import --from` did: entries written, and rows state already held as written."""

    imported: dict[str, StateEntry]
    already: list[str]


def read_import_file(path: Path) -> list[ImportRow]:
    """The rows of a YAML (`address: job_id`) or CSV (`address,job_id`) file; every problem
    in it raised at once."""
    if path.suffix.lower() in (".yaml", ".yml"):
        rows, problems = _yaml_rows(path)
    elif path.suffix.lower() == ".csv":
        rows, problems = _csv_rows(path)
    else:
        raise UsageError(
            f"{path}: the import file must be YAML (.yaml, .yml) or CSV (.csv)",
            hint="YAML maps each address to a job id; CSV has the columns address,job_id",
        )
    if problems:
        raise _import_refused(problems, rows=len(rows) + len(problems))
    if not rows:
        raise UsageError(f"{path} names no address to import")
    return rows


def _yaml_rows(path: Path) -> tuple[list[ImportRow], list[str]]:
    pairs, found = read_pairs(path)
    problems = [str(problem) for problem in found]
    rows = []
    for key, value, line in pairs:
        where = f"{path}:{line}"
        if not isinstance(key, str) or not isinstance(value, str):
            problems.append(
                f"{where}: expected `address: job_id` (both text; quote an id made only of "
                f"digits), not {key!r}: {value!r}"
            )
            continue
        rows.append(ImportRow(address=key, job_id=value, where=where))
    return rows, problems


def _csv_rows(path: Path) -> tuple[list[ImportRow], list[str]]:
    import csv

    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            records = [(number, record) for number, record in enumerate(csv.reader(stream), 1)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    rows: list[ImportRow] = []
    problems: list[str] = []
    for number, record in records:
        cells = [cell.strip() for cell in record]
        while cells and not cells[-1]:
            cells.pop()
        if not cells or cells[0].startswith("#"):
            continue
        if not rows and not problems and [c.lower() for c in cells] == ["address", "job_id"]:
            continue  # the header
        where = f"{path}:{number}"
        if len(cells) != 2:
            problems.append(f"{where}: expected two columns, address,job_id; found {len(cells)}")
            continue
        rows.append(ImportRow(address=cells[0], job_id=cells[1], where=where))
    return rows, problems


def _import_refused(problems: list[str], *, rows: int) -> UsageError:
    count = len(problems)
    listed = "\n".join(f"  {problem}" for problem in problems)
    return UsageError(
        f"import refused: {count} problem{'s' if count > 1 else ''} in {rows} row"
        f"{'s' if rows != 1 else ''}; nothing was imported\n{listed}",
        hint="fix those rows (or the specs) and import again: the batch is all or nothing",
    )


def check_rows(desired: Mapping[str, DesiredJob], rows: list[ImportRow]) -> list[str]:
    """Offline problems with import rows: ids, addresses, an address or job named twice."""
    problems = []
    first_address: dict[str, str] = {}
    first_job: dict[str, str] = {}
    for row in rows:
        if not JOB_ID_RE.match(row.job_id):
            problems.append(f"{row.where}: {row.job_id!r} is not a job id (32 hex digits)")
        if row.address not in desired:
            problems.append(
                f"{row.where}: no spec has the address {row.address} (write the spec first)"
            )
        earlier = first_address.setdefault(row.address, row.where)
        if earlier != row.where:
            problems.append(f"{row.where}: {row.address} is imported at {earlier} already")
        earlier = first_job.setdefault(row.job_id, row.where)
        if earlier != row.where:
            problems.append(
                f"{row.where}: job {row.job_id} is imported at {earlier} already; one job "
                "can be the clone of one address"
            )
    return problems


async def import_batch(
    api: Api,
    store: StateStore,
    *,
    desired: Mapping[str, DesiredJob],
    rows: list[ImportRow],
    lock_timeout: float = 0.0,
    force: bool = False,
) -> BatchImport:
    """`jobspec import --from FILE`: every row checked, then all adopted under one lock, or none.

    Each row passes the checks `jobspec import` makes (import_clone); a row whose address
    state already holds with that very job is done already (a rerun after an interrupted
    import), not a problem. Every problem of every row is listed in one refusal.
    """
    problems = check_rows(desired, rows)
    if problems:
        raise _import_refused(problems, rows=len(rows))
    with store.lock(timeout=lock_timeout, operation="import") as session:
        session.state.check_ownership()
        session.state.check_server(server_identity(api.server))
        entries = session.entries
        already, todo = [], []
        for row in rows:
            held = entries.get(row.address)
            if held is not None and held.clone_id == row.job_id:
                already.append(row.address)
                continue
            if held is not None:
                problems.append(
                    f"{row.where}: {row.address} already has clone {held.clone_id} in state"
                )
                continue
            try:
                check_unowned(
                    entries, wanted=desired[row.address], job_id=row.job_id, desired=desired
                )
            except UsageError as exc:
                problems.append(f"{row.where}: {row.address}: {exc.message}")
                continue
            todo.append(row)
        ids = {row.job_id for row in todo} | {desired[row.address].spec.source for row in todo}
        found = await api.get_jobs(ids) if todo else {}
        adopted: dict[str, StateEntry] = {}
        for row in todo:
            wanted = desired[row.address]
            try:
                adopted[row.address] = adopted_entry(
                    found, wanted=wanted, job_id=row.job_id, force=force
                )
            except UsageError as exc:
                problems.append(f"{row.where}: {row.address}: {exc.message}")
        if problems:
            raise _import_refused(problems, rows=len(rows))
        if adopted:
            session.set_server(server_identity(api.server))
        for address, entry in adopted.items():
            session.put(address, entry)
    return BatchImport(imported=adopted, already=already)


# --- generate -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateOutcome:
    """What `jobspec generate` made: the specs, the jobs left out, the YAML ('' if none)."""

    generated: generate.Generated
    text: str
    listed: int


def check_generate(
    *,
    selection: generate.Selection,
    sets: list[str],
    name_template: str | None,
    out: Path | None,
    force: bool,
) -> list[generate.Assignment]:
    """Everything `generate` can refuse offline, before any call: the assignments to make."""
    selection.check()
    if name_template is not None:
        generate.check_name_template(name_template)
    assignments, problems = generate.parse_assignments(sets, yaml_value)
    if problems:
        count = len(problems)
        raise UsageError(
            f"cannot generate: {count} problem{'s' if count > 1 else ''}\n"
            + "\n".join(f"  {problem}" for problem in problems),
            hint="--set PATH=VALUE takes a field of `overrides` (see `jobspec schema --format "
            "markdown`) and a YAML value; nothing was written",
        )
    if out is not None:
        if not out.parent.is_dir():
            raise UsageError(f"directory {out.parent} does not exist", hint="create it first")
        if out.exists() and not force:
            raise UsageError(
                f"{out} exists; generate does not overwrite it",
                hint="review and keep it, write elsewhere with --out, or replace it with --force",
            )
    return assignments


async def generate_specs(
    api: Api,
    *,
    selection: generate.Selection,
    state: State,
    desired: Mapping[str, DesiredJob],
    sets: list[str] | None = None,
    name_template: str | None = None,
    original: OriginalPolicy = OriginalPolicy.manual,
    out: Path | None = None,
    force: bool = False,
) -> GenerateOutcome:
    """`jobspec generate`: spec files for live jobs, from one listing of every job.

    With `out` and `force`, specs already in that file do not count as existing: they are
    what is being regenerated. A query adds the server's filtered listing, read alongside.
    The file is written only when it holds a spec; never over an existing file unless `force`.
    """
    import asyncio

    assignments = check_generate(
        selection=selection, sets=sets or [], name_template=name_template, out=out, force=force
    )
    if out is not None and force:
        replaced = out.resolve()
        desired = {a: d for a, d in desired.items() if Path(d.location.file).resolve() != replaced}
    state.check_ownership()
    state.check_server(server_identity(api.server))
    if selection.query is not None:
        live, candidates = await asyncio.gather(api.list_jobs(), api.list_jobs(q=selection.query))
    else:
        live = candidates = await api.list_jobs()
    made = generate.generate(
        selection=selection,
        candidates=candidates,
        live=live,
        desired=desired,
        prior=state.entries,
        assignments=assignments,
        name_template=name_template,
        original=original,
    )
    text = ""
    if made.specs:
        header = [
            f"Generated by `jobspec generate` from the jobs on {server_identity(api.server)}.",
            "Above each spec: the job it clones, as it was then. Review, then `jobspec plan`.",
        ]
        text = render_generated(
            header=header, jobs=[(new.address, new.body, new.comment) for new in made.specs]
        )
        if out is not None:
            try:
                atomic_write(out, [text.encode("utf-8")], replace=force)
            except FileExistsError:
                raise UsageError(
                    f"{out} appeared while generating; generate does not overwrite it",
                    hint="replace it with --force",
                ) from None
    return GenerateOutcome(generated=made, text=text, listed=len(live))


# --- state commands -----------------------------------------------------------------------------


def forget(store: StateStore, *, address: str, lock_timeout: float = 0.0) -> str:
    """`jobspec state rm`: drop `address` from state, leaving its clone; returns the clone id."""
    with store.lock(timeout=lock_timeout, operation="state rm") as session:
        if address not in session.entries:
            raise UsageError(f"no state entry for {address}", hint="see `jobspec state list`")
        clone = session.entries[address].clone_id
        session.remove(address)
    return clone


def move_address(store: StateStore, *, old: str, new: str, lock_timeout: float = 0.0) -> str:
    """`jobspec state mv`: `old`'s clone becomes `new`'s, no new clone; returns the clone id.

    For a renamed address: without it, the plan would orphan the old clone and clone again.
    """
    if not ADDRESS_RE.match(new):
        raise UsageError(
            f"{new!r} is not an address",
            hint="addresses are lowercase letters, digits, `.`, `_` and `-`, as in the specs",
        )
    with store.lock(timeout=lock_timeout, operation="state mv") as session:
        if old not in session.entries:
            raise UsageError(f"no state entry for {old}", hint="see `jobspec state list`")
        if new in session.entries:
            raise UsageError(
                f"{new} already has clone {session.entries[new].clone_id} in state",
                hint=f"`jobspec state rm {new}` first, if that clone is not needed",
            )
        if any(intent.address == old for intent in session.pending_intents()):
            raise UsageError(
                f"an interrupted run left a call of {old} unfinished",
                hint="run `jobspec apply` first (it settles the call), then move the address",
            )
        session.move(old, new)
        return session.entries[new].clone_id


def repoint_server(store: StateStore, *, server: str, lock_timeout: float = 0.0) -> str | None:
    """`jobspec state set-server URL`: the state's jobs now live at URL; returns the old one.

    Only for a real move (the same server at a new address, its jobs and their ids kept).
    """
    new = server_identity(normalize_server(server))
    with store.lock(timeout=lock_timeout, operation="state set-server") as session:
        old = session.state.server
        session.set_server(new)
    return old


def restore_backup(store: StateStore, *, lock_timeout: float = 0.0) -> Restored:
    """`jobspec state restore`: the backup becomes the state, in a new serial epoch.

    Only the file store keeps a backup; PostgreSQL's transactions leave nothing half-written
    to restore from, and `state push FILE --force` moves a saved copy in (never back in serial).
    """
    if not isinstance(store, FileStateStore):
        raise UsageError(
            f"state {store.location} keeps no backup: only a state file does",
            hint="to put a saved copy of the state back, `jobspec state push FILE --force`",
        )
    return store.restore_backup(timeout=lock_timeout)


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
    except PlanTampered as exc:
        raise UsageError(
            f"{path} cannot be applied: {exc}",
            hint="apply only plans that `jobspec plan --out` made, unedited; plan again",
        ) from exc
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
