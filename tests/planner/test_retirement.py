"""Retirement decisions as small tables: what the plan does to originals and old clones."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec.model import LiveJob, OriginalPolicy, RetireHow
from jobspec.plan import Action, ActionKind, StepOp
from jobspec.retirement import (
    manual_schedule_body,
    observed_retirement,
    old_clone_retirement,
    record_observed,
    retire_original,
    retire_step,
    retire_superseded,
    running_warnings,
    waiting_for_idle,
)
from tests.planner.helpers import CLONE, OTHER, SOURCE, entry, live_job

AUTO = live_job(SOURCE)
MANUAL = live_job(SOURCE, schedule={"mode": "manual"})
KEEP, DELETE, SET_MANUAL = OriginalPolicy.keep, OriginalPolicy.delete, OriginalPolicy.manual


@pytest.mark.parametrize(
    ("policy", "source", "seen"),
    [
        (KEEP, None, None),
        (KEEP, MANUAL, None),
        (DELETE, None, RetireHow.deleted),
        (DELETE, MANUAL, None),  # on manual is not deleted
        (SET_MANUAL, None, RetireHow.deleted),  # gone counts whatever the policy
        (SET_MANUAL, MANUAL, RetireHow.manual),
        (SET_MANUAL, AUTO, None),
    ],
)
def test_observed_retirement(
    policy: OriginalPolicy, source: LiveJob | None, seen: RetireHow | None
) -> None:
    assert observed_retirement(policy, source) is seen


@pytest.mark.parametrize(
    ("policy", "how"),
    [(KEEP, RetireHow.manual), (SET_MANUAL, RetireHow.manual), (DELETE, RetireHow.deleted)],
)
def test_a_replaced_clone_is_deleted_only_under_delete(
    policy: OriginalPolicy, how: RetireHow
) -> None:
    assert old_clone_retirement(policy) is how


@pytest.mark.parametrize(
    ("policy", "source", "retired_before", "hows", "reason"),
    [
        (KEEP, AUTO, None, [], None),
        (DELETE, None, None, [], None),  # nothing to retire
        (DELETE, AUTO, None, [RetireHow.deleted], f"original: delete → delete original {SOURCE}"),
        (DELETE, AUTO, "deleted", [RetireHow.deleted], f"drift: original {SOURCE} still exists"),
        (SET_MANUAL, MANUAL, None, [], None),
        (
            SET_MANUAL,
            AUTO,
            None,
            [RetireHow.manual],
            f"original: manual → set original {SOURCE} schedule to manual",
        ),
        (
            SET_MANUAL,
            AUTO,
            "manual",
            [RetireHow.manual],
            f"drift: original {SOURCE} is back on schedule 'auto'",
        ),
    ],
)
def test_retire_original(
    policy: OriginalPolicy,
    source: LiveJob | None,
    retired_before: str | None,
    hows: list[RetireHow],
    reason: str | None,
) -> None:
    state = entry(original=policy.value, original_retired=retired_before)["finance"]
    steps, reasons = retire_original(policy=policy, source=source, entry=state)
    assert [step.how for step in steps] == hows
    assert all(step.op is StepOp.retire and step.role == "original" for step in steps)
    assert reasons == ([reason] if reason else [])


@pytest.mark.parametrize(
    ("policy", "old", "op", "how"),
    [
        (SET_MANUAL, None, StepOp.record, RetireHow.deleted),  # gone: recorded
        (SET_MANUAL, live_job(OTHER, schedule={"mode": "manual"}), StepOp.record, RetireHow.manual),
        (SET_MANUAL, live_job(OTHER), StepOp.retire, RetireHow.manual),
        (DELETE, live_job(OTHER, schedule={"mode": "manual"}), StepOp.retire, RetireHow.deleted),
        (DELETE, None, StepOp.record, RetireHow.deleted),
    ],
)
def test_retire_superseded(
    policy: OriginalPolicy, old: LiveJob | None, op: StepOp, how: RetireHow
) -> None:
    state = entry(superseded=[OTHER])["finance"]
    live = {} if old is None else {OTHER: old}
    (step,), (reason,) = retire_superseded(policy=policy, entry=state, live=live)
    assert (step.op, step.job_id, step.role, step.how) == (op, OTHER, "old_clone", how)
    assert reason.startswith(f"replaced clone {OTHER} is ")


@pytest.mark.parametrize(
    ("retired_before", "source", "recorded"),
    [
        ("manual", None, []),  # state knows already
        (None, AUTO, []),
        (None, MANUAL, [RetireHow.manual]),
        (None, None, [RetireHow.deleted]),
    ],
)
def test_record_observed(
    retired_before: str | None, source: LiveJob | None, recorded: list[RetireHow]
) -> None:
    state = entry(original_retired=retired_before)["finance"]
    steps, reasons = record_observed(policy=SET_MANUAL, source=source, entry=state)
    assert [step.how for step in steps] == recorded
    assert all(step.op is StepOp.record and step.job_id == SOURCE for step in steps)
    assert len(reasons) == len(steps)


@pytest.mark.parametrize(
    ("raw_transfer", "body"),
    [
        (
            {"transfer_type": "sync"},
            {"kind": "transfer", "transfer_type": "sync", "schedule": {"mode": "manual"}},
        ),
        ({"transfer_type": 3}, {"kind": "transfer", "schedule": {"mode": "manual"}}),
    ],
)
def test_manual_schedule_body(raw_transfer: dict[str, Any], body: dict[str, Any]) -> None:
    job = LiveJob.from_raw({"id": CLONE, "kind": "transfer", "name": "n", "transfer": raw_transfer})
    assert manual_schedule_body(job) == body


def test_a_delete_sends_no_body_and_a_manual_retire_sends_the_schedule() -> None:
    assert retire_step(job=AUTO, role="original", how=RetireHow.deleted).body is None
    assert retire_step(
        job=AUTO, role="original", how=RetireHow.manual
    ).body == manual_schedule_body(AUTO)


def action_retiring(how: RetireHow) -> Action:
    step = retire_step(job=AUTO, role="original", how=how)
    return Action(
        kind=ActionKind.retire,
        address="finance",
        source_id=SOURCE,
        original=OriginalPolicy.delete,
        reasons=["r"],
        steps=[step],
    )


@pytest.mark.parametrize(("how", "waits"), [(RetireHow.deleted, True), (RetireHow.manual, False)])
def test_only_deletes_wait_for_idle(how: RetireHow, waits: bool) -> None:
    (step,) = waiting_for_idle(action_retiring(how)).steps
    assert step.wait_for_idle is waits


@pytest.mark.parametrize(
    ("how", "wait", "words"),
    [
        (RetireHow.manual, False, "lets this run finish"),
        (RetireHow.deleted, True, "deletes it once the run ends"),
        (RetireHow.deleted, False, "cancels that transfer"),
    ],
)
def test_a_running_job_about_to_be_retired_is_a_warning(
    how: RetireHow, wait: bool, words: str
) -> None:
    action = action_retiring(how)
    if wait:
        action = waiting_for_idle(action)
    running = {SOURCE: live_job(SOURCE, status="running")}
    (warning,) = running_warnings(actions=[action], live=running)
    assert words in warning.message
    assert running_warnings(actions=[action], live={SOURCE: AUTO}) == []
