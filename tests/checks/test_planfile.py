"""checks.planfile: the offline checks of a saved plan, as small tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from jobspec.checks.planfile import check_clone_names, check_plan_shape, check_specs_unchanged
from jobspec.errors import JobspecError, StalePlanError, UsageError
from jobspec.model import (
    DesiredJob,
    JobSpec,
    LiveJob,
    OriginalPolicy,
    SourceLocation,
    StateEntry,
    digest,
)
from jobspec.plan import Action, ActionKind, Plan, Step, StepOp
from jobspec.planner import spec_digest

SOURCE, CLONE, OTHER = "a" * 32, "b" * 32, "c" * 32


@dataclass(frozen=True)
class Now:
    """The state as these checks read it."""

    serial: int = 3
    lineage: str | None = "L"
    entries: Mapping[str, StateEntry] = field(default_factory=dict)


def held(clone: str = CLONE) -> dict[str, StateEntry]:
    entry = StateEntry(
        source_id=SOURCE,
        clone_id=clone,
        original=OriginalPolicy.manual,
        applied={},
        applied_digest=digest({}),
    )
    return {"finance": entry}


def action(
    address: str = "finance", clone_id: str | None = CLONE, step_on: str | None = CLONE
) -> Action:
    steps = [] if step_on is None else [Step(op=StepOp.patch, job_id=step_on, role="clone")]
    return Action(
        address=address,
        kind=ActionKind.update,
        reasons=["spec"],
        source_id=SOURCE,
        clone_id=clone_id,
        original=OriginalPolicy.manual,
        steps=steps,
    )


def plan(*actions: Action, lineage: str | None = "L", serial: int = 3, **more: Any) -> Plan:
    fingerprints = more.pop("fingerprints", {CLONE: "f", SOURCE: "s"})
    return Plan(
        lineage=lineage, serial=serial, actions=list(actions), fingerprints=fingerprints, **more
    )


@pytest.mark.parametrize(
    ("saved", "state", "message"),
    [
        (plan(action()), Now(entries=held()), None),
        (plan(lineage=None, serial=3), Now(), "it names no state lineage but serial 3"),
        (plan(action(), action()), Now(entries=held()), "address finance appears twice"),
        (
            plan(action(), lineage=None, serial=0),
            Now(lineage=None, serial=0),
            f"finance names clone {CLONE}, but the plan was made with no state",
        ),
        (plan(action()), Now(serial=4, entries=held(OTHER)), None),  # another state: later
        (plan(action()), Now(entries=held(OTHER)), f"finance's clone is {CLONE} in the plan"),
        (
            plan(action(step_on=OTHER), fingerprints={CLONE: "f", OTHER: "o"}),
            Now(entries=held()),
            f"a patch step targets job {OTHER}, which is neither its source nor a clone",
        ),
        (
            plan(action(), fingerprints={}),
            Now(entries=held()),
            f"a patch step targets job {CLONE}, which the plan did not read",
        ),
    ],
)
def test_check_plan_shape(saved: Plan, state: Now, message: str | None) -> None:
    if message is None:
        check_plan_shape(saved, state)
        return
    with pytest.raises(UsageError) as refused:
        check_plan_shape(saved, state)
    assert message in refused.value.message
    assert refused.value.message.startswith("the plan file is not sound: ")


def spec(source: str = SOURCE) -> DesiredJob:
    return DesiredJob(
        address="finance",
        spec=JobSpec.model_validate({"source": source}),
        location=SourceLocation(file="specs/a.yaml", line=1),
    )


@pytest.mark.parametrize(
    ("made_from", "now", "changed"),
    [
        ({"finance": spec_digest(spec())}, {"finance": spec()}, None),
        ({"finance": spec_digest(spec())}, {"finance": spec(OTHER)}, "finance (edited)"),
        ({"finance": spec_digest(spec())}, {}, "finance (removed)"),
        ({"finance": None}, {"finance": spec()}, "finance (added)"),
        ({}, {"finance": spec()}, None),  # an address the plan did not cover
    ],
)
def test_check_specs_unchanged(
    made_from: dict[str, str | None], now: dict[str, DesiredJob], changed: str | None
) -> None:
    saved = plan(specs=made_from)
    if changed is None:
        check_specs_unchanged(saved, now)
        return
    with pytest.raises(StalePlanError, match="the spec files changed") as refused:
        check_specs_unchanged(saved, now)
    assert refused.value.message.endswith(changed)


def named(job_id: str, name: str) -> LiveJob:
    return LiveJob.from_raw({"id": job_id, "kind": "transfer", "name": name})


CLONING = Action(
    address="finance",
    kind=ActionKind.create,
    reasons=["spec"],
    source_id=SOURCE,
    original=OriginalPolicy.manual,
    steps=[Step(op=StepOp.clone, job_id=SOURCE, role="source", body={"name": "Fin (finance)"})],
)


@pytest.mark.parametrize(
    ("every", "entries", "refused"),
    [
        ([], {}, False),
        ([named(OTHER, "Fin (finance)")], {}, True),  # a stranger took the name
        ([named(OTHER, "Fin (finance)")], held(OTHER), False),  # state knows it
        ([named(SOURCE, "Fin (finance)")], {}, False),  # the plan read it
        ([named(OTHER, "Something else")], {}, False),
    ],
)
def test_check_clone_names(
    every: list[LiveJob], entries: dict[str, StateEntry], refused: bool
) -> None:
    saved = plan(CLONING, fingerprints={SOURCE: "s"})
    if not refused:
        check_clone_names(saved, Now(entries=entries), every)
        return
    with pytest.raises(JobspecError, match="the name the plan gives finance's clone"):
        check_clone_names(saved, Now(entries=entries), every)
