"""Retiring originals and old clones: the steps that bring them in line with `original:`.

Pure decisions the planner takes for each address: what to retire and how (delete, or a
manual schedule), what the server shows as retired already (recorded, not retried), and what
to say when a job about to be retired is running.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobspec.model import (
    DesiredJob,
    LiveJob,
    OriginalPolicy,
    RetireHow,
    ScheduleMode,
    StateEntry,
)
from jobspec.plan import Action, PlanWarning, Role, Step, StepOp
from jobspec.scrub import shorten


def retire_original(
    *, policy: OriginalPolicy, source: LiveJob | None, entry: StateEntry | None
) -> tuple[list[Step], list[str]]:
    """Steps that bring the original in line with `policy`, and why (drift if done before)."""
    if source is None or policy is OriginalPolicy.keep:
        return [], []
    again = (
        entry is not None and entry.source_id == source.id and entry.original_retired is not None
    )
    if policy is OriginalPolicy.delete:
        why = (
            f"drift: original {source.id} still exists"
            if again
            else f"original: delete → delete original {source.id}"
        )
        return [retire_step(job=source, role="original", how=RetireHow.deleted)], [why]
    if source.schedule_mode == ScheduleMode.manual:
        return [], []
    why = (
        f"drift: original {source.id} is back on schedule {source.schedule_mode!r}"
        if again
        else f"original: manual → set original {source.id} schedule to manual"
    )
    return [retire_step(job=source, role="original", how=RetireHow.manual)], [why]


def retire_superseded(
    *, policy: OriginalPolicy, entry: StateEntry, live: Mapping[str, LiveJob]
) -> tuple[list[Step], list[str]]:
    """Old clones a replace made and did not retire yet (the run stopped in between).

    One that is already gone, or already on manual where manual is the aim, is only recorded
    as retired: what the plan sees wins over a retire whose reply was lost or failed.
    """
    steps: list[Step] = []
    reasons: list[str] = []
    how = old_clone_retirement(policy)
    for job_id in entry.superseded:
        old = live.get(job_id)
        if old is None or (how is RetireHow.manual and old.schedule_mode == ScheduleMode.manual):
            seen = RetireHow.deleted if old is None else RetireHow.manual
            steps.append(Step(op=StepOp.record, job_id=job_id, role="old_clone", how=seen))
            reasons.append(f"replaced clone {job_id} is already {_retired_words(seen)}")
            continue
        steps.append(retire_step(job=old, role="old_clone", how=how))
        reasons.append(f"replaced clone {job_id} is not retired yet")
    return steps, reasons


def record_observed(
    *, policy: OriginalPolicy, source: LiveJob | None, entry: StateEntry
) -> tuple[list[Step], list[str]]:
    """State does not say the original was retired, but the server shows it was.

    A retire whose reply was lost, or failed after the server had done it (a DELETE answered
    500), leaves state behind the server; the plan records what it sees instead of retrying.
    """
    if entry.original_retired is not None:
        return [], []
    seen = observed_retirement(policy, source)
    if seen is None:
        return [], []
    step = Step(op=StepOp.record, job_id=entry.source_id, role="original", how=seen)
    return [step], [f"original {entry.source_id} is already {_retired_words(seen)}: recorded"]


def observed_retirement(policy: OriginalPolicy, source: LiveJob | None) -> RetireHow | None:
    """How the server shows the original retired per `policy` already, if it does.

    Gone counts as deleted whatever the policy; on manual counts under `manual`. `keep`
    retires nothing. Used for what a plan records and what `jobspec import` starts from.
    """
    if policy is OriginalPolicy.keep:
        return None
    if source is None:
        return RetireHow.deleted
    if policy is OriginalPolicy.manual and source.schedule_mode == ScheduleMode.manual:
        return RetireHow.manual
    return None


def _retired_words(how: RetireHow) -> str:
    return "deleted" if how is RetireHow.deleted else "on a manual schedule"


def old_clone_retirement(policy: OriginalPolicy) -> RetireHow:
    """A replaced clone is deleted under `delete`, else taken off its schedule."""
    return RetireHow.deleted if policy is OriginalPolicy.delete else RetireHow.manual


def retire_step(*, job: LiveJob, role: Role, how: RetireHow) -> Step:
    if how is RetireHow.deleted:
        return Step(op=StepOp.retire, job_id=job.id, role=role, how=how)
    return Step(
        op=StepOp.retire,
        job_id=job.id,
        role=role,
        how=how,
        body=manual_schedule_body(job),
    )


def manual_schedule_body(job: LiveJob) -> dict[str, Any]:
    """The PATCH that takes a job off its schedule, shaped like the vendor's documented example."""
    body: dict[str, Any] = {"kind": job.kind}
    transfer = job.raw.get("transfer")
    if isinstance(transfer, dict) and isinstance(transfer.get("transfer_type"), str):
        body["transfer_type"] = transfer["transfer_type"]
    body["schedule"] = {"mode": ScheduleMode.manual.value}  # a request body: plain JSON
    return body


def waiting_for_idle(action: Action) -> Action:
    """Mark the action's deletes to wait until their job is not running (`wait_for_idle`)."""
    steps = [
        step.model_copy(update={"wait_for_idle": True})
        if step.op is StepOp.retire and step.how is RetireHow.deleted
        else step
        for step in action.steps
    ]
    return action.model_copy(update={"steps": steps})


def running_warnings(*, actions: list[Action], live: Mapping[str, LiveJob]) -> list[PlanWarning]:
    """A job this plan retires is running right now: say what retiring it does to that run."""
    warnings = []
    for action in actions:
        for step in action.steps:
            job = live.get(step.job_id or "") if step.op is StepOp.retire else None
            if job is None or not job.is_running:
                continue
            what = f"{step.role.replace('_', ' ')} {job.id}"
            if step.how is not RetireHow.deleted:
                message = (
                    f"{what} is running right now: setting its schedule to manual lets this "
                    "run finish and stops the next ones"
                )
            elif step.wait_for_idle:
                message = f"{what} is running right now: apply deletes it once the run ends"
            else:
                message = (
                    f"{what} is running right now: deleting it cancels that transfer within "
                    "seconds; `apply --wait-for-idle` (or `wait_for_idle: true` in the spec) "
                    "deletes it once the run ends"
                )
            warnings.append(
                PlanWarning(address=action.address, location=action.location, message=message)
            )
    return warnings


def folder_mapping_children(
    *, planned: list[tuple[DesiredJob, Action]], live: Mapping[str, LiveJob]
) -> tuple[list[str], list[PlanWarning]]:
    """A source with a `parent_id` is a folder-mapping job's child: DryvIQ makes a deleted
    child again when the parent next runs, so retiring it (`delete`, or `manual`, which the
    parent may undo) leaves the re-made child and the clone writing to related places.
    Refused, naming the parent; `original: keep` is allowed, with a warning."""
    refused: list[str] = []
    warned: list[PlanWarning] = []
    for wanted, action in planned:
        source = live.get(wanted.spec.source)
        parent = source.raw.get("parent_id") if source is not None else None
        if source is None or parent in (None, "") or isinstance(parent, bool):
            continue
        known = live.get(str(parent))
        named = f" {shorten(known.name)!r}" if known is not None else ""
        text = (
            f"source {source.id} is a child of folder-mapping job {parent}{named}; DryvIQ "
            "re-creates a deleted child when its parent runs again"
        )
        if wanted.spec.original is OriginalPolicy.keep:
            warned.append(
                PlanWarning(
                    address=action.address,
                    location=str(wanted.location),
                    message=f"{text} (original: keep leaves the child alone)",
                )
            )
            continue
        refused.append(
            f"{wanted.location}: {wanted.address}: {text}, so `original: {wanted.spec.original}` "
            f"would leave the re-created child and the clone writing to related places; write a "
            f"spec for the parent job {parent} instead (or use `original: keep`)"
        )
    return refused, warned
