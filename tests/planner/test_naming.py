"""Clone names as identities, as small tables: which name a clone bears, and who else does."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec.model import LiveJob
from jobspec.naming import (
    default_clone_name,
    identity_name,
    job_names,
    known_ids,
    name_clashes,
    unknown_namesake,
)
from jobspec.plan import Action, ActionKind, Step, StepOp
from tests.planner.helpers import CLONE, OTHER, SOURCE, desired, entry, live_job

STRANGER = "f" * 32  # a live job that state does not know


def action(*steps: Step, clone_id: str | None = CLONE) -> Action:
    return Action(
        kind=ActionKind.create if steps else ActionKind.noop,
        address="finance",
        source_id=SOURCE,
        original="manual",
        reasons=["r"],
        clone_id=clone_id,
        steps=list(steps),
    )


def cloning(name: str) -> Step:
    return Step(op=StepOp.clone, job_id=SOURCE, role="source", body={"name": name})


def test_the_default_name_carries_the_address() -> None:
    assert default_clone_name(base_name="Finance", address="finance") == "Finance (finance)"


@pytest.mark.parametrize(
    ("overrides", "planned", "live_name", "name"),
    [
        ({}, action(cloning("New")), None, "New"),  # a clone step names it
        ({"name": "Spec"}, action(), "Old", "Spec"),  # then the spec's name
        ({}, action(), "Old", "Old"),  # then the live clone's
        ({}, action(), None, None),  # or nothing is known
    ],
)
def test_identity_name(
    overrides: dict[str, Any], planned: Action, live_name: str | None, name: str | None
) -> None:
    (wanted,) = desired(overrides=overrides).values()
    live = {} if live_name is None else {CLONE: live_job(CLONE, name=live_name)}
    assert identity_name(wanted=wanted, action=planned, live=live) == name


def test_known_ids_are_what_specs_and_state_name() -> None:
    prior = entry(superseded=[OTHER], retired_clones=[STRANGER])
    assert known_ids(desired=desired(), prior=prior) == {SOURCE, CLONE, OTHER, STRANGER}
    assert known_ids(desired=desired(), prior={}) == {SOURCE}


@pytest.mark.parametrize(
    ("overrides", "jobs", "found"),
    [
        ({}, [live_job(STRANGER, name="Finance archive")], None),  # no explicit name
        ({"name": "Finance archive"}, [live_job(STRANGER, name="Finance archive")], STRANGER),
        ({"name": "Finance archive"}, [live_job(CLONE, name="Finance archive")], None),  # known
        ({"name": "Finance archive"}, [live_job(STRANGER, name="other")], None),
    ],
)
def test_unknown_namesake(
    overrides: dict[str, Any], jobs: list[LiveJob], found: str | None
) -> None:
    want = desired(overrides=overrides)
    namesake = unknown_namesake(
        wanted=want["finance"], desired=want, prior=entry(), live={job.id: job for job in jobs}
    )
    assert (namesake.id if namesake else None) == found


@pytest.mark.parametrize(
    ("jobs", "interrupted", "clashes"),
    [
        ([], {}, 0),
        ([live_job(STRANGER, name="New")], {}, 1),  # an unknown job bears the name
        ([live_job(STRANGER, name="New")], {"finance": "New"}, 0),  # an interrupted run's
        ([live_job(OTHER, name="New")], {}, 0),  # a job state knows
        ([live_job(STRANGER, name="Other")], {}, 0),
    ],
)
def test_a_new_clone_may_not_take_an_unknown_jobs_name(
    jobs: list[LiveJob], interrupted: dict[str, str], clashes: int
) -> None:
    want = desired()
    planned = [(want["finance"], action(cloning("New")))]
    prior = entry(superseded=[OTHER])
    live = {job.id: job for job in jobs}
    assert (
        len(
            name_clashes(
                planned=planned, desired=want, prior=prior, live=live, interrupted=interrupted
            )
        )
        == clashes
    )


def test_two_addresses_may_not_share_a_clone_name() -> None:
    want = desired("a") | desired("b")
    planned = [(want["a"], action(cloning("Same"))), (want["b"], action(cloning("Same")))]
    (problem,) = name_clashes(planned=planned, desired=want, prior={}, live={}, interrupted={})
    assert "b: its clone would be named 'Same', the name of a's clone" in problem


def test_job_names_cover_every_job_the_actions_mention_that_is_live() -> None:
    planned = action(cloning("New"), Step(op=StepOp.retire, job_id=OTHER, role="original"))
    live = {SOURCE: live_job(SOURCE, name="S"), OTHER: live_job(OTHER, name="O")}
    assert job_names(actions=[planned], live=live) == {OTHER: "O", SOURCE: "S"}
