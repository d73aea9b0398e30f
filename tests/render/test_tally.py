"""One tally feeds every summary: each format's counts equal the plan's steps counted afresh."""

from __future__ import annotations

import json
import re

import pytest

from jobspec.model import RetireHow
from jobspec.plan import Plan, StepOp, tally
from jobspec.render import render_json, render_markdown, render_text
from tests.planner.helpers import deleting_plan
from tests.render.test_render import every_kind_plan


def _from_steps(plan: Plan) -> dict[str, int]:
    """The counts, from the steps alone: what every summary must say."""
    retires = [s for a in plan.actions for s in a.steps if s.op is StepOp.retire]
    deleted = sum(1 for s in retires if s.how is RetireHow.deleted)
    manual = sum(1 for s in retires if s.how is RetireHow.manual)
    return {"retire": len(retires), "delete": deleted, "set_manual": manual}


PLANS = [every_kind_plan, deleting_plan]


@pytest.mark.parametrize("make", PLANS)
def test_to_retire_is_deletes_plus_set_manuals_in_every_format(make: object) -> None:
    assert callable(make)
    plan: Plan = make()
    want = _from_steps(plan)
    assert want["retire"] > 0
    assert {k: tally(plan.actions)[k] for k in want} == want

    text = render_text(plan)
    found = re.findall(r"Jobs to retire: (\d+) \((\d+) to delete, (\d+) to set manual\)", text)
    assert found and all(
        tuple(map(int, f)) == (want["retire"], want["delete"], want["set_manual"]) for f in found
    )

    summary = json.loads(render_json(plan))["summary"]
    assert {k: summary[k] for k in want} == want
    assert summary["retire"] == summary["delete"] + summary["set_manual"]

    markdown = render_markdown(plan)
    rows = dict(re.findall(r"^\| \**([a-z ]+?)\** \| \**(\d+)\** \|$", markdown, re.M))
    assert int(rows["jobs to retire"]) == want["retire"]
    assert int(rows["jobs to delete"]) == want["delete"]
    assert int(rows["jobs to set manual"]) == want["set_manual"]
    assert f"Jobs to retire: {want['retire']} (" in markdown
