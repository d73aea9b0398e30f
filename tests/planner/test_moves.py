"""`moved_from:`: renaming an address in the reviewed plan, and plain renames refused."""

from __future__ import annotations

import pytest

from jobspec.errors import PlanError
from jobspec.plan import ActionKind, StepOp
from tests.planner.helpers import (
    CLONE,
    OVERRIDES,
    RETIRED_SOURCE,
    applied_clone,
    desired,
    entry,
    live_job,
    plan_of,
)

JOBS = [RETIRED_SOURCE, applied_clone()]


def _moved(address: str = "ledger", **spec: object) -> dict[str, object]:
    return desired(address, overrides=OVERRIDES, moved_from="finance", **spec)


def test_a_move_keeps_the_clone_and_moves_the_entry_first() -> None:
    plan = plan_of(_moved(), entry(), JOBS)  # type: ignore[arg-type]
    (action,) = plan.actions
    assert action.address == "ledger" and action.kind is ActionKind.update
    assert action.clone_id == CLONE
    assert [(s.op, s.body) for s in action.steps] == [(StepOp.move, {"from": "finance"})]
    assert action.reasons[0] == f"finance → ledger: moved (same clone {CLONE})"
    assert plan.summary["create"] == 0 and plan.summary["retire"] == 0


def test_an_applied_move_plans_nothing_with_or_without_the_key() -> None:
    moved = {"ledger": entry()["finance"]}
    assert not plan_of(_moved(), moved, JOBS).has_changes  # type: ignore[arg-type]
    plain = desired("ledger", overrides=OVERRIDES)
    assert not plan_of(plain, moved, JOBS).has_changes


def test_a_clone_named_after_its_address_is_renamed_in_the_same_plan() -> None:
    body = {"schedule": {"mode": "manual"}}
    clone = live_job(CLONE, name="Finance to SharePoint (finance)", **body)
    want = desired("ledger", overrides=body, moved_from=["finance"])
    prior = entry(applied=body)
    (action,) = plan_of(want, prior, [RETIRED_SOURCE, clone]).actions
    assert [s.op for s in action.steps] == [StepOp.move, StepOp.patch]
    assert action.steps[1].body == {"kind": "transfer", "name": "Finance to SharePoint (ledger)"}
    assert [(c.path, c.after) for c in action.changes] == [
        ("name", "Finance to SharePoint (ledger)")
    ]


def test_a_move_from_an_address_that_still_has_a_spec_is_refused() -> None:
    want = _moved() | desired("finance", overrides=OVERRIDES)
    with pytest.raises(PlanError, match="finance still has a spec"):
        plan_of(want, entry(), JOBS)  # type: ignore[arg-type]


@pytest.mark.parametrize("named", [True, False])
def test_a_plain_rename_is_refused_with_the_line_to_add(named: bool) -> None:
    body = OVERRIDES if named else {"schedule": {"mode": "manual"}}
    name = OVERRIDES["name"] if named else "Finance to SharePoint (finance)"
    clone = live_job(CLONE, name=name, **{"schedule": {"mode": "manual"}})
    want = desired("ledger", overrides=body)
    with pytest.raises(PlanError) as refused:
        plan_of(want, entry(applied=body), [RETIRED_SOURCE, clone])
    assert "add `moved_from: finance` to this spec" in refused.value.message
    if not named:  # --prune says "clone afresh" (a clone name of its own does not clash)
        assert plan_of(want, entry(applied=body), [RETIRED_SOURCE, clone], prune=True).has_changes


def test_an_unrelated_new_spec_beside_an_orphan_is_no_rename() -> None:
    other = live_job("d" * 32, name="Something else")
    want = desired("ledger", source="d" * 32, overrides={**OVERRIDES, "name": "Ledger"})
    plan = plan_of(want, entry(), [RETIRED_SOURCE, applied_clone(), other])
    assert {a.address: a.kind for a in plan.actions} == {
        "finance": ActionKind.orphan,
        "ledger": ActionKind.create,
    }
