"""Verified cutover (`cutover: verified`): the planner's pure decisions and the run verdict.

An original is retired only once its clone's first run ended well. The planner puts the
cutover steps into an address's action (`with_cutover`): after the clone is made and verified
(or patched), `hold` the original when the clone writes where it writes (the conflict guard's
own rule, `conflicts.find_conflicts`), `start` the clone's run, `await_run` its end; the retire
steps come after those, so a failing run leaves the original as it was. State's phase
(`CutoverRecord`) says which of these are done: a later plan continues from there without a
second clone or a second start.

Every execution is server text: read through `Execution.from_raw`, which keeps only what it
can check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jobspec.conflicts import Party, find_conflicts
from jobspec.model import (
    CUTOVER_FAILED,
    Cutover,
    CutoverPhase,
    CutoverRecord,
    LiveJob,
    OriginalPolicy,
    ScheduleMode,
    StateEntry,
)
from jobspec.plan import Action, ActionKind, CutoverNote, PlanWarning, Step, StepOp

GOOD_STATUSES = ("completed", "no_changes")
"""Execution statuses of a run that ended well (the vendor SDK's `JobExecutionStatus`)."""
WARN_STATUS = "warn"
RUNNING_STATUSES = frozenset({"running", "failing"})
"""Still going: `failing` is a run that has failures and has not ended yet."""

Verdict = Literal["good", "bad", "running"]


@dataclass(frozen=True, kw_only=True)
class Execution:
    """One run of a job, as much of the server's `JobExecution` as jobspec reads."""

    id: int | str | None
    status: str
    progress: float | None = None
    failures: int = 0
    warnings: int = 0
    start_time: float | None = None

    @classmethod
    def from_raw(cls, raw: Any) -> Execution | None:
        """The execution, or None when the server's value is not one."""
        if not isinstance(raw, Mapping) or not isinstance(raw.get("status"), str):
            return None
        run_id = raw.get("id")
        progress = raw.get("progress")
        start = raw.get("start_time")
        errors = raw.get("stats", {}).get("errors") if isinstance(raw.get("stats"), dict) else None
        return cls(
            id=run_id if isinstance(run_id, int | str) and not isinstance(run_id, bool) else None,
            status=raw["status"][:40],
            progress=_number(progress),
            failures=_count(errors, "failures"),
            warnings=_count(errors, "warnings"),
            start_time=_number(start),
        )

    def describe(self) -> str:
        """`running, 45%` or `failed, 3 errors, 0 warnings`, for messages."""
        if self.status in RUNNING_STATUSES:
            shown = f", {self.progress * 100:.0f}%" if self.progress is not None else ""
            return f"{self.status}{shown}"
        return f"{self.status}, {self.failures} errors, {self.warnings} warnings"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(errors: Any, key: str) -> int:
    value = errors.get(key) if isinstance(errors, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def accepted_statuses(*, accept_warnings: bool) -> list[str]:
    """The statuses a first run may end with for the original to be retired."""
    return [*GOOD_STATUSES, WARN_STATUS] if accept_warnings else list(GOOD_STATUSES)


def verdict(execution: Execution | None, accepted: list[str]) -> Verdict:
    """Has the run ended well, badly, or not yet? No run seen yet counts as not yet."""
    if execution is None or execution.status in RUNNING_STATUSES:
        return "running"
    return "good" if execution.status in accepted else "bad"


def latest_on_job(job: LiveJob | None) -> Execution | None:
    """The job's run from the job itself: the one going, else `previous_execution`."""
    if job is None:
        return None
    return Execution.from_raw(job.raw.get("execution")) or Execution.from_raw(
        job.raw.get("previous_execution")
    )


def overlaps(clone: Mapping[str, Any], original: Mapping[str, Any]) -> bool:
    """Does the clone write where its original writes? The conflict guard's rule, whatever
    their schedules now (the cutover starts the clone by hand)."""

    def running(job: Mapping[str, Any]) -> dict[str, Any]:
        return {"schedule": {"mode": ScheduleMode.auto.value}, "transfer": job.get("transfer")}

    parties = [
        Party("clone", running(clone), desired=True),
        Party("original", running(original)),
    ]
    return bool(find_conflicts(parties))


def with_cutover(
    action: Action,
    *,
    cutover: Cutover,
    accept_warnings: bool,
    entry: StateEntry | None,
    source: LiveJob | None,
    clone_after: Callable[[], Mapping[str, Any] | None],
    run: Execution | None,
) -> tuple[Action, list[PlanWarning]]:
    """The action with the cutover steps in it, and a warning for a failed cutover.

    `clone_after` gives the clone as it will be (for the overlap rule), asked only when the
    rule applies: most actions have no cutover, and working it out merges bodies. `run` is
    the clone's latest run as observed, for the note.
    """
    makes_clone = any(step.op is StepOp.clone for step in action.steps)
    record = entry.cutover if entry is not None and not makes_clone else None
    if not makes_clone and record is None:
        return action, []  # nothing started under `verified`: an existing clone stays as it is
    if not makes_clone and record is not None and record.phase is CutoverPhase.retired:
        return action, []
    if makes_clone and cutover is not Cutover.verified:
        return action, []
    if record is not None and record.phase in CUTOVER_FAILED:
        return _failed(action, record=record, source=source, entry=entry, run=run)

    head = [step for step in action.steps if step.op in _BEFORE_RUN]
    tail = [step for step in action.steps if step.op not in _BEFORE_RUN]
    clone_id = None if makes_clone else action.clone_id
    accepted = accepted_statuses(accept_warnings=accept_warnings)
    middle: list[Step] = []
    phase = "new" if record is None else record.phase.value
    hold = (
        phase in ("new", CutoverPhase.cloned.value)
        and source is not None
        and action.original is not OriginalPolicy.keep
        and (after := clone_after()) is not None
        and overlaps(after, source.raw)
    )
    if hold:
        assert source is not None
        body = {"kind": source.kind, "schedule": {"mode": ScheduleMode.manual.value}}
        middle.append(Step(op=StepOp.hold, job_id=source.id, role="original", body=body))
    if phase in ("new", CutoverPhase.cloned.value):
        middle.append(Step(op=StepOp.start, job_id=clone_id, role="clone"))
    middle.append(
        Step(op=StepOp.await_run, job_id=clone_id, role="clone", body={"accept": accepted})
    )
    held = record is not None and record.original_held
    note = _note(
        action, phase=phase, run=run, source=source, hold=hold, held=held, accepted=accepted
    )
    kind = ActionKind.retire if action.kind is ActionKind.noop else action.kind
    reasons = list(action.reasons) if action.kind is not ActionKind.noop else []
    if not makes_clone:
        reasons.append(f"cutover: {note.next}")
    changed = action.model_copy(
        update={"steps": head + middle + tail, "cutover": note, "kind": kind, "reasons": reasons}
    )
    return changed, []


_BEFORE_RUN = frozenset({StepOp.clone, StepOp.verify, StepOp.patch})


def _note(
    action: Action,
    *,
    phase: str,
    run: Execution | None,
    source: LiveJob | None,
    hold: bool,
    held: bool,
    accepted: list[str],
) -> CutoverNote:
    """`hold`: this plan stops the original first; `held`: an earlier apply did."""
    clone = "the new clone" if phase == "new" else f"clone {action.clone_id}"
    original = _original_words(action, source)
    if held and source is not None:
        original = (
            f"original {source.id} is held on manual meanwhile (its schedule comes back if the "
            "run fails)"
        )
    if hold:
        original += "; it is stopped first, since the clone writes where it writes"
    ends = " or ".join(accepted)
    if phase == "new":
        text = f"clone, start {clone}'s first run, retire the original once it ends {ends}"
    elif phase == CutoverPhase.cloned.value:
        text = f"start {clone}'s first run; {original}"
    else:
        state = verdict(run, accepted)
        if state == "running":
            seen = f" ({run.describe()})" if run is not None else " (not started yet)"
            text = f"waiting for {clone} first run{seen}; {original}"
        elif state == "good":
            assert run is not None
            text = f"{clone} first run ended {run.status}: retire the original"
        else:
            assert run is not None
            text = (
                f"{clone} first run ended {run.describe()}: apply sets the clone to manual and "
                "leaves the original as it is"
            )
    return CutoverNote(
        phase=phase,
        next=text,
        run_status=run.status if run is not None else None,
        progress=run.progress if run is not None else None,
    )


def _original_words(action: Action, source: LiveJob | None) -> str:
    if source is None:
        return f"original {action.source_id} is gone"
    mode = source.schedule_mode or "no schedule"
    return f"original {source.id} stays on {mode}"


def _failed(
    action: Action,
    *,
    record: CutoverRecord,
    source: LiveJob | None,
    entry: StateEntry | None,
    run: Execution | None,
) -> tuple[Action, list[PlanWarning]]:
    """A failed cutover: nothing of the original or old clones is touched; the plan says
    what to do. A failure whose original was stopped and not put back yet is put back. The
    clone's schedule was parked on manual by the failure: it is not patched back."""
    kept = [
        unparked
        for step in action.steps
        if step.role not in ("original", "old_clone") and step.op is not StepOp.retire
        if (unparked := _without_schedule(step)) is not None
    ]
    changes = [c for c in action.changes if not c.path.startswith("schedule")]
    if (
        record.phase is CutoverPhase.failed
        and record.original_held
        and record.original_schedule is not None
        and source is not None
    ):
        body = {"kind": source.kind, "schedule": record.original_schedule}
        kept.append(Step(op=StepOp.restore, job_id=source.id, role="original", body=body))
    status = record.run_status or (run.status if run is not None else "unknown")
    restored = record.phase is CutoverPhase.restored
    kept_words = "was put back on its schedule" if restored else "left as it was"
    clone = entry.clone_id if entry is not None else action.clone_id
    text = (
        f"failed cutover: clone {clone} first run ended {status} ({record.failures or 0} errors, "
        f"{record.warnings or 0} warnings); original {action.source_id} {kept_words}. Fix the "
        f"spec and plan a replace, or run `jobspec apply --replace {action.address}` to try again"
    )
    note = CutoverNote(phase=record.phase.value, next=text, run_status=status)
    if not kept:
        kind, reasons = ActionKind.noop, [text]
    elif action.kind is ActionKind.update:
        kind, reasons = ActionKind.update, [*action.reasons, text]
    else:
        kind, reasons = ActionKind.retire, [f"put original {action.source_id} back on its schedule"]
    changed = action.model_copy(
        update={
            "steps": kept,
            "cutover": note,
            "kind": kind,
            "reasons": reasons,
            "changes": changes,
        }
    )
    warning = PlanWarning(address=action.address, location=action.location, message=text)
    return changed, [warning]


def _without_schedule(step: Step) -> Step | None:
    """A patch of the parked clone without its schedule; None when nothing else is left."""
    if step.op is not StepOp.patch or not step.body or "schedule" not in step.body:
        return step
    body = {key: value for key, value in step.body.items() if key != "schedule"}
    return step.model_copy(update={"body": body}) if set(body) - {"kind"} else None
