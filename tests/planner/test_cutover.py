"""Verified cutover in the planner, and the pure verdict on a run: table tests."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec.cutover import Execution, accepted_statuses, overlaps, verdict
from jobspec.drift import find_drift
from jobspec.plan import ActionKind, PlanOptions, StepOp
from jobspec.planner import make_plan
from tests.planner.helpers import (
    CLONE,
    OVERRIDES,
    SOURCE,
    applied_clone,
    desired,
    entry,
    live_job,
)

ELSEWHERE = {
    "name": "Finance archive",
    "transfer": {
        "transfer_type": "copy",
        "destination": {"connection": {"id": "sp"}, "target": {"path": "/Sites/Archive"}},
    },
}


def plan_for(spec: dict[str, Any], prior: Any, jobs: list[Any], runs: Any = None) -> Any:
    return make_plan(
        desired=desired(**spec),
        prior=prior,
        live={job.id: job for job in jobs},
        lineage="l" if prior else None,
        serial=1 if prior else 0,
        runs=runs,
    )


def ops(action: Any) -> list[str]:
    return [step.op.value for step in action.steps]


@pytest.mark.parametrize(
    ("raw", "accept_warnings", "expected"),
    [
        (None, False, "running"),
        ({"status": "running", "progress": 0.45}, False, "running"),
        ({"status": "failing"}, False, "running"),
        ({"status": "completed"}, False, "good"),
        ({"status": "no_changes"}, False, "good"),
        ({"status": "warn"}, False, "bad"),
        ({"status": "warn"}, True, "good"),
        ({"status": "failed"}, True, "bad"),
        ({"status": "failed_to_start"}, False, "bad"),
        ({"status": "cancelled"}, False, "bad"),
        ({"status": 7}, False, "running"),  # not an execution: nothing seen yet
        ("completed", False, "running"),
    ],
)
def test_verdict(raw: Any, accept_warnings: bool, expected: str) -> None:
    run = Execution.from_raw(raw)
    assert verdict(run, accepted_statuses(accept_warnings=accept_warnings)) == expected


def test_execution_reads_only_what_it_can_check() -> None:
    run = Execution.from_raw(
        {
            "id": True,
            "status": "failed" * 20,
            "progress": float("nan"),
            "stats": {"errors": {"failures": -1, "warnings": "9"}},
        }
    )
    assert run is not None
    assert run.id is None and len(run.status) == 40 and run.progress is None
    assert (run.failures, run.warnings) == (0, 0)
    good = Execution.from_raw(
        {"id": 4, "status": "failed", "stats": {"errors": {"failures": 3, "warnings": 1}}}
    )
    assert good is not None and good.describe() == "failed, 3 errors, 1 warnings"
    running = Execution.from_raw({"status": "running", "progress": 0.45})
    assert running is not None and running.describe() == "running, 45%"


def test_overlap_is_the_conflict_guards_rule_whatever_the_schedules() -> None:
    original = live_job(SOURCE, schedule={"mode": "manual"}).raw
    assert overlaps(live_job(CLONE).raw, original)
    elsewhere = applied_clone(**ELSEWHERE).raw
    assert not overlaps(elsewhere, original)


def test_immediate_is_todays_plan() -> None:
    plan = plan_for({"overrides": ELSEWHERE}, {}, [live_job(SOURCE)])
    (action,) = plan.actions
    assert ops(action) == ["clone", "verify", "retire"] and action.cutover is None
    assert "cutover" not in plan.to_json()


def test_verified_create_starts_then_waits_before_retiring() -> None:
    plan = plan_for({"overrides": ELSEWHERE, "cutover": "verified"}, {}, [live_job(SOURCE)])
    (action,) = plan.actions
    assert ops(action) == ["clone", "verify", "start", "await_run", "retire"]
    assert action.steps[3].body == {"accept": ["completed", "no_changes"]}
    assert action.cutover is not None and action.cutover.phase == "new"


def test_accept_warnings_accepts_warn() -> None:
    spec = {"overrides": ELSEWHERE, "cutover": "verified", "accept_warnings": True}
    (action,) = plan_for(spec, {}, [live_job(SOURCE)]).actions
    assert action.steps[3].body == {"accept": ["completed", "no_changes", "warn"]}


def test_an_overlapping_clone_holds_the_original_first() -> None:
    (action,) = plan_for({"cutover": "verified"}, {}, [live_job(SOURCE)]).actions
    assert ops(action) == ["clone", "verify", "hold", "start", "await_run", "retire"]
    assert action.steps[2].job_id == SOURCE


def test_keep_never_holds_the_original() -> None:
    spec = {"cutover": "verified", "original": "keep", "allow_overlap_with": [SOURCE]}
    (action,) = plan_for(spec, {}, [live_job(SOURCE)]).actions
    assert ops(action) == ["clone", "verify", "start", "await_run"]


def cut(phase: str, **fields: Any) -> dict[str, Any]:
    return entry(original_retired=None, cutover={"phase": phase, **fields})


def test_a_started_cutover_waits_and_shows_the_run() -> None:
    spec = {"overrides": OVERRIDES, "cutover": "verified"}
    runs = {CLONE: {"id": 1, "status": "running", "progress": 0.45}}
    plan = plan_for(spec, cut("started"), [live_job(SOURCE), applied_clone()], runs)
    (action,) = plan.actions
    assert action.kind is ActionKind.retire
    assert ops(action) == ["await_run", "retire"]
    assert action.cutover is not None and action.cutover.progress == 0.45
    assert f"waiting for clone {CLONE} first run (running, 45%)" in action.cutover.next
    assert f"original {SOURCE} stays on auto" in action.cutover.next


def test_a_cloned_cutover_starts_once_never_clones_again() -> None:
    spec = {"overrides": OVERRIDES, "cutover": "verified"}
    (action,) = plan_for(spec, cut("cloned"), [live_job(SOURCE), applied_clone()]).actions
    assert ops(action) == ["hold", "start", "await_run", "retire"]  # it writes /Sites/Finance
    assert action.steps[1].job_id == CLONE


def test_a_failed_cutover_touches_nothing_and_says_what_to_do() -> None:
    spec = {"overrides": OVERRIDES, "cutover": "verified"}
    prior = cut("failed", run_status="failed", failures=3)
    jobs = [live_job(SOURCE), applied_clone()]
    plan = plan_for(spec, prior, jobs)
    (action,) = plan.actions
    assert action.kind is ActionKind.noop and action.steps == []
    assert "--replace finance" in action.cutover.next if action.cutover else False
    assert "3 errors" in plan.warnings[0].message
    (finding,) = find_drift(plan, prior=prior, live={job.id: job for job in jobs})
    assert "failed cutover" in finding.detail


def test_a_failed_cutover_with_its_original_held_puts_it_back() -> None:
    spec = {"cutover": "verified"}
    schedule = {"mode": "auto", "repeat_interval": {"value": 1, "unit": "h"}}
    prior = cut("failed", original_held=True, original_schedule=schedule)
    held = live_job(SOURCE, schedule={"mode": "manual"})
    clone = live_job(CLONE, name="Finance archive", schedule={"mode": "manual"})
    spec["overrides"] = {"name": "Finance archive"}  # type: ignore[assignment]
    (action,) = plan_for(spec, prior, [held, clone]).actions
    assert [step.op for step in action.steps] == [StepOp.restore]
    assert action.steps[0].body == {"kind": "transfer", "schedule": schedule}


def test_replace_after_a_failed_cutover_cuts_over_again() -> None:
    spec = {"overrides": OVERRIDES, "cutover": "verified"}
    plan = make_plan(
        desired=desired(**spec),
        prior=cut("failed", run_status="failed"),
        live={job.id: job for job in (live_job(SOURCE), applied_clone())},
        lineage="l",
        serial=1,
        options=PlanOptions(replace=("finance",)),
    )
    (action,) = plan.actions
    assert action.kind is ActionKind.replace
    assert ops(action) == ["clone", "verify", "hold", "start", "await_run", "retire", "retire"]
    assert [step.role for step in action.steps[-2:]] == ["old_clone", "original"]


def test_a_failed_cutover_does_not_patch_the_parked_clone_back_on_schedule() -> None:
    spec = {"overrides": {**OVERRIDES, "schedule": {"mode": "auto"}}, "cutover": "verified"}
    prior = cut("failed", run_status="failed")
    parked = applied_clone(schedule={"mode": "manual"})
    (action,) = plan_for(spec, prior, [live_job(SOURCE), parked]).actions
    assert action.kind is ActionKind.noop and action.steps == [] and action.changes == []


def test_a_held_original_is_named_as_held_while_the_run_goes() -> None:
    spec = {"overrides": OVERRIDES, "cutover": "verified"}
    prior = cut("started", original_held=True, original_schedule={"mode": "auto"})
    held = live_job(SOURCE, schedule={"mode": "manual"})
    runs = {CLONE: {"status": "running", "progress": 0.2}}
    (action,) = plan_for(spec, prior, [held, applied_clone()], runs).actions
    assert ops(action) == ["await_run", "record"]  # on manual: recorded once the run is good
    assert action.cutover is not None and "is held on manual meanwhile" in action.cutover.next
