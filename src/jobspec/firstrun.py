"""Running a verified cutover's steps: hold the original, start the clone, judge its run.

The applier calls these for the `hold`, `start`, `await_run` and `restore` steps the planner
puts in (`jobspec.cutover`). Each phase goes into state through the journal before the next
call, as every other step does, so a killed apply is continued by the next one:

- `hold` first records the original's schedule (so a failed run can put it back), then sets
  the original to manual, then waits for a run it has going to end: the two never run at once;
- `start` journals its intent, then `PATCH v1/jobs/{id}?start=1`; a lost reply (or a kill) is
  settled by looking at the clone's runs, never by starting again;
- `await_run` reads the clone's newest run; ended well: phase `verified` and the retire steps
  follow; ended badly: the clone goes to manual, phase `failed`, the held original gets its
  schedule back (`restored`), and `CutoverFailed` names the address, clone, status and error
  counts; still going: `StillRunning`, which ends the address without error (apply says it
  waits) unless `apply --wait` gives time, polled with a growing pause up to its bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from jobspec.api import Api
from jobspec.cutover import Execution, verdict
from jobspec.errors import ApiError, CutoverFailed, IdleTimeout, JobspecError, OutcomeUnknown
from jobspec.model import CutoverPhase, CutoverRecord, ScheduleMode, StateEntry
from jobspec.plan import Step, StepOp
from jobspec.retirement import manual_schedule_body
from jobspec.state import GroupCommit, Intent, StateSession

CLOCK_MARGIN_SECONDS = 2
"""Server timestamps have one-second resolution (as for a lost clone)."""

Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class RunWait:
    """How long `await_run` waits for a first run to end (`apply --wait`); 0 looks once.

    The same timing drives the wait for a held original's run (bounded by `hold_timeout`).
    """

    timeout: float = 0.0
    hold_timeout: float = 600.0
    first_pause: float = 1.0
    pause_growth: float = 1.5
    max_pause: float = 10.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    deadline: float | None = None
    """When the whole apply's `--wait` ends (on `clock`), so that cutovers admitted late (the
    pair slots of issue 26 queue them) do not each wait `timeout` again; None: per address."""

    def started(self) -> RunWait:
        """This wait with its run-wide deadline set from now (once, when an apply starts)."""
        return (
            self
            if self.deadline is not None
            else replace(self, deadline=self.clock() + self.timeout)
        )


class StillRunning(Exception):
    """The clone's first run has not ended within the wait: the next apply finishes it."""


async def hold_original(
    address: str,
    step: Step,
    entry: StateEntry,
    *,
    api: Api,
    journal: StateSession,
    wait: RunWait,
    say: Say,
) -> StateEntry:
    """Record the original's schedule, set it to manual, and wait for its run to end."""
    assert step.job_id is not None and step.body is not None
    record = entry.cutover or CutoverRecord(phase=CutoverPhase.cloned)
    if record.original_schedule is None:
        original = await api.get_job(step.job_id)
        if original is None:
            return entry  # gone: nothing runs there any more
        schedule = original.raw.get("schedule")
        mode = {"mode": ScheduleMode.manual.value}
        kept = dict(schedule) if isinstance(schedule, dict) else mode
        entry = _with_record(entry, record.model_copy(update={"original_schedule": kept}))
        journal.put(address, entry)  # before the call: a failed run must find it
        await saved(journal)
        record = entry.cutover or record
    intent = journal.record_intent(address, "hold", target=step.job_id)
    await saved(journal)
    try:
        await api.patch(step.job_id, step.body)
    except JobspecError as exc:
        journal.abandon(intent, f"failed: {exc.message}")
        await saved(journal)
        raise
    entry = _with_record(entry, record.model_copy(update={"original_held": True}))
    journal.complete(intent, put=entry)
    await saved(journal)
    say(f"stopped original {step.job_id} (schedule manual) before the clone runs")
    await _original_idle(step.job_id, api=api, wait=wait, say=say)
    return entry


async def _original_idle(job_id: str, *, api: Api, wait: RunWait, say: Say) -> None:
    """Return once the original is not running: the clone must not run beside it."""
    started = wait.clock()
    pause = wait.first_pause
    while True:
        job = await api.get_job(job_id)
        if job is None or not job.is_running:
            return
        waited = wait.clock() - started
        left = wait.hold_timeout - waited
        if left <= 0:
            raise IdleTimeout(
                f"original {job_id} is still running after {wait.hold_timeout:g} s; it is on "
                "manual now, and the clone's run starts once it has ended",
                hint="run `jobspec apply` again once its run has ended",
            )
        say(f"waiting for original {job_id} to finish its run before the clone runs")
        await wait.sleep(min(pause, left))
        pause = min(pause * wait.pause_growth, wait.max_pause)


async def start_run(
    address: str, step: Step, entry: StateEntry, *, api: Api, journal: StateSession, say: Say
) -> StateEntry:
    """Start the clone's first run once: journaled, and never sent twice."""
    clone_id = step.job_id or entry.clone_id
    intent = journal.record_intent(address, "start", target=clone_id, not_before=api.server_time)
    await saved(journal)
    try:
        await api.control(clone_id, "start")
    except OutcomeUnknown as lost:
        if await started_since(intent, api=api) is None:
            # left pending on purpose: the next apply looks for the run before starting one
            raise ApiError(
                "the start call's reply was lost and no run has appeared; nothing was started "
                "again",
                call=lost.call,
                hint="run apply again: it looks for the run once more before starting one",
            ) from lost
    except JobspecError as exc:
        journal.abandon(intent, f"failed: {exc.message}")
        await saved(journal)
        raise
    entry = started_entry(entry)
    journal.complete(intent, put=entry)
    await saved(journal)
    say(f"started clone {clone_id}'s first run")
    return entry


def started_entry(entry: StateEntry) -> StateEntry:
    record = entry.cutover or CutoverRecord(phase=CutoverPhase.cloned)
    return _with_record(entry, record.model_copy(update={"phase": CutoverPhase.started}))


async def started_since(intent: Intent, *, api: Api) -> Execution | None:
    """The run a start intent made, if one has appeared: the clone's newest run, begun no
    earlier than the server's clock said before the call."""
    target = intent.details.get("target")
    if not isinstance(target, str):
        return None
    run = Execution.from_raw(await api.latest_execution(target))
    not_before = intent.details.get("not_before")
    if run is None:
        return None
    if (
        isinstance(not_before, int | float)
        and run.start_time is not None
        and run.start_time < not_before - CLOCK_MARGIN_SECONDS
    ):
        return None
    return run


async def await_run(
    address: str,
    step: Step,
    entry: StateEntry,
    *,
    api: Api,
    journal: StateSession,
    wait: RunWait,
    say: Say,
    gate: Callable[[Step], None] = lambda step: None,
) -> StateEntry:
    """Judge the clone's first run: `verified` to go on, `CutoverFailed`, or `StillRunning`."""
    clone_id = step.job_id or entry.clone_id
    if entry.cutover is not None and entry.cutover.phase is CutoverPhase.verified:
        return entry  # judged already (a later run, on its schedule, is not the first)
    accept = step.body.get("accept") if step.body else None
    accepted = [str(status) for status in accept] if isinstance(accept, list) else []
    started = wait.clock()
    pause = wait.first_pause
    while True:
        run = Execution.from_raw(await api.latest_execution(clone_id))
        judged = verdict(run, accepted)
        if judged == "good":
            assert run is not None
            entry = _with_run(entry, run, CutoverPhase.verified)
            journal.put(address, entry)
            await saved(journal)
            say(f"clone {clone_id} first run ended {run.status}")
            return entry
        if judged == "bad":
            assert run is not None
            await _failed(address, entry, run, api=api, journal=journal, say=say, gate=gate)
        seen = run.describe() if run is not None else "not started yet"
        left = wait.timeout - (wait.clock() - started)
        if wait.deadline is not None:
            left = min(left, wait.deadline - wait.clock())
        if left <= 0:
            raise StillRunning(f"waiting for clone {clone_id} first run ({seen})")
        say(f"waiting for clone {clone_id} first run ({seen})")
        await wait.sleep(min(pause, left))
        pause = min(pause * wait.pause_growth, wait.max_pause)


async def _failed(
    address: str,
    entry: StateEntry,
    run: Execution,
    *,
    api: Api,
    journal: StateSession,
    say: Say,
    gate: Callable[[Step], None],
) -> None:
    """The run ended badly: clone to manual, phase `failed`, the held original put back."""
    clone = await api.get_job(entry.clone_id)
    if clone is not None and clone.schedule_mode != ScheduleMode.manual:
        intent = journal.record_intent(address, "park_clone", target=entry.clone_id)
        await saved(journal)
        try:
            await api.patch(entry.clone_id, manual_schedule_body(clone))
        except JobspecError as exc:
            journal.abandon(intent, f"failed: {exc.message}")
            await saved(journal)
            raise
        journal.complete(intent)
        say(f"set clone {entry.clone_id} to manual")
    entry = _with_run(entry, run, CutoverPhase.failed)
    journal.put(address, entry)
    await saved(journal)
    record = entry.cutover
    assert record is not None
    original = f"original {entry.source_id} was left as it was"
    if record.original_held and record.original_schedule is not None:
        body = {"schedule": record.original_schedule}
        gate(Step(op=StepOp.restore, job_id=entry.source_id, role="original", body=body))
        await restore_original(
            address,
            entry,
            job_id=entry.source_id,
            schedule=record.original_schedule,
            api=api,
            journal=journal,
            say=say,
        )
        original = f"original {entry.source_id} was put back on its schedule"
    raise CutoverFailed(
        f"cutover failed: clone {entry.clone_id} first run (run {run.id}) ended {run.status} "
        f"with {run.failures} errors and {run.warnings} warnings; {original}; the clone is on "
        "manual. Fix the spec and plan a "
        f"replace, or run `jobspec apply --replace {address}` to try again",
        hint=f"fix the spec and plan a replace, or run `jobspec apply --replace {address}` to "
        "try again",
    )


async def restore_original(
    address: str,
    entry: StateEntry,
    *,
    job_id: str,
    schedule: dict[str, Any],
    api: Api,
    journal: StateSession,
    say: Say,
) -> StateEntry:
    """Put a held original back on the schedule it had; phase `restored`."""
    original = await api.get_job(job_id)
    record = entry.cutover
    assert record is not None
    if original is not None:
        intent = journal.record_intent(address, "restore", target=job_id)
        await saved(journal)
        try:
            await api.patch(job_id, {"kind": original.kind, "schedule": schedule})
        except JobspecError as exc:
            journal.abandon(intent, f"failed: {exc.message}")
            await saved(journal)
            raise
        journal.complete(intent)
        say(f"put original {job_id} back on schedule {schedule.get('mode')!s}")
    entry = _with_record(entry, record.model_copy(update={"phase": CutoverPhase.restored}))
    journal.put(address, entry)
    await saved(journal)
    return entry


def _with_run(entry: StateEntry, run: Execution, phase: CutoverPhase) -> StateEntry:
    record = entry.cutover or CutoverRecord(phase=phase)
    update = {
        "phase": phase,
        "run_id": run.id,
        "run_status": run.status,
        "failures": run.failures,
        "warnings": run.warnings,
    }
    return _with_record(entry, record.model_copy(update=update))


def _with_record(entry: StateEntry, record: CutoverRecord) -> StateEntry:
    return entry.model_copy(update={"cutover": record})


async def saved(journal: StateSession) -> None:
    """Wait until what was just journaled is on disk (as `applier._saved`)."""
    if isinstance(journal, GroupCommit):
        await journal.sync()
