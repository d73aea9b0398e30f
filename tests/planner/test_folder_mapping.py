"""Folder-mapping children (issue 24): retiring one is refused, naming the parent; `keep` is a
warning. DryvIQ re-creates a deleted child when the parent runs again."""

from __future__ import annotations

import pytest

from jobspec.errors import PlanError
from jobspec.model import LiveJob
from tests.planner.helpers import OTHER, SOURCE, desired, live_job, plan_of

PARENT = OTHER


def child() -> list[LiveJob]:
    parent = live_job(PARENT, kind="folder_mapping", name="Home drives")
    return [parent, live_job(SOURCE, parent_id=PARENT, name="Home drive: ana")]


@pytest.mark.parametrize("policy", ["delete", "manual"])
def test_retiring_a_folder_mapping_child_is_refused_naming_the_parent(policy: str) -> None:
    want = desired(original=policy, overrides={"schedule": {"mode": "manual"}})
    with pytest.raises(PlanError) as caught:
        plan_of(want, {}, child())
    (problem,) = caught.value.problems
    assert problem.startswith(
        f"specs/finance.yaml:3:1: finance: source {SOURCE} is a child of folder-mapping job "
        f"{PARENT} 'Home drives'"
    )
    assert f"`original: {policy}`" in problem
    assert f"write a spec for the parent job {PARENT} instead" in problem


def test_keeping_a_folder_mapping_child_is_a_warning() -> None:
    want = desired(original="keep", overrides={"schedule": {"mode": "manual"}})
    plan = plan_of(want, {}, child())
    (warning,) = plan.warnings
    assert f"child of folder-mapping job {PARENT} 'Home drives'" in warning.message
    assert plan.actions[0].kind.value == "create"


def test_a_job_without_a_parent_is_no_child() -> None:
    want = desired(original="delete", overrides={"schedule": {"mode": "manual"}})
    plain = live_job(SOURCE, parent_id=None)
    assert plan_of(want, {}, [plain]).warnings == []
