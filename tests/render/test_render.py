"""Golden files for the three renderings of one plan that has every kind of action.

Regenerate after an intended change with `JOBSPEC_UPDATE_GOLDEN=1 pytest tests/render`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from jobspec.model import deep_merge
from jobspec.plan import ActionKind, Plan
from jobspec.render import STYLES, render_json, render_markdown, render_text
from tests.planner.helpers import (
    CLONE,
    OVERRIDES,
    RETIRED_SOURCE,
    SOURCE,
    applied_clone,
    deleting_plan,
    desired,
    entry,
    live_job,
    plan_of,
)

GOLDEN = Path(__file__).parent / "golden"


def every_kind_plan() -> Plan:
    """create, update (drift), replace, retire, noop, orphan — with a warning."""
    other = "d" * 32
    want: dict[str, Any] = {}
    want |= desired("new-archive", overrides=deep_merge(OVERRIDES, {"name": "New archive"}))
    want |= desired("edited", overrides=deep_merge(OVERRIDES, {"name": "Finance (2027)"}))
    moved = deep_merge(OVERRIDES, {"transfer": {"destination": {"target": {"path": "/Archive"}}}})
    want |= desired("moved", overrides=moved)
    # an automatic clone beside gone-spec's clone, accepted: the plan's one warning
    want |= desired(
        "kept",
        overrides={"schedule": {"mode": "auto"}},
        original="keep",
        allow_overlap_with=[other],
    )
    prior = {
        "edited": entry()["finance"],
        "moved": entry()["finance"],
        "gone-spec": entry()["finance"].model_copy(update={"clone_id": other}),
    }
    jobs = [live_job(SOURCE), applied_clone(priority=3), live_job(other)]
    return plan_of(want, prior, jobs)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("JOBSPEC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


def test_every_kind_is_present() -> None:
    kinds = {action.kind for action in every_kind_plan().actions}
    assert kinds == {ActionKind.create, ActionKind.update, ActionKind.replace, ActionKind.orphan}


def test_text_golden() -> None:
    check_golden("plan.txt", render_text(every_kind_plan()))


def test_text_colour_only_when_asked() -> None:
    """render names styles only; the paint function (the CLI's, from rich) colours them."""
    plain = render_text(every_kind_plan())
    coloured = render_text(every_kind_plan(), paint=lambda text, style: f"<{style}>{text}</>")
    assert "\x1b[" not in plain and "</>" not in plain
    assert "<create>+ kept: create</>" in coloured
    styles = set(re.findall(r"<(\w+)>", render_text(deleting_plan(), paint=lambda t, s: f"<{s}>")))
    assert styles <= set(STYLES) and "danger" in styles


def test_json_golden_and_schema() -> None:
    text = render_json(every_kind_plan())
    check_golden("plan.json", text)
    document = json.loads(text)
    assert document["format_version"] == 1
    assert document["has_changes"] is True
    assert document["summary"]["create"] == 2
    first = document["actions"][0]
    assert set(first) >= {"address", "kind", "reasons", "changes", "steps"}
    assert Plan.from_json(text) == every_kind_plan()


def test_markdown_golden() -> None:
    check_golden("plan.md", render_markdown(every_kind_plan()))


def test_no_changes_text() -> None:
    plan = plan_of(desired(overrides=OVERRIDES), entry(), [RETIRED_SOURCE, applied_clone()])
    assert render_text(plan).startswith("No changes. 0 to create")


@pytest.mark.parametrize("count", [2_000])
def test_markdown_stays_under_the_limit_and_says_what_it_cut(count: int) -> None:
    want: dict[str, Any] = {}
    for number in range(count):
        name = {"name": f"Finance archive {number}"}  # clone names are identities
        want |= desired(f"job-{number:05d}", overrides=deep_merge(OVERRIDES, name))
    plan = plan_of(want, {}, [live_job(SOURCE)])
    text = render_markdown(plan)
    assert len(text) < 60_000
    assert f"more of {count} changed addresses cut" in text
    assert CLONE not in text


def test_text_golden_with_deletes() -> None:
    check_golden("plan-deletes.txt", render_text(deleting_plan()))


def test_markdown_golden_with_deletes() -> None:
    check_golden("plan-deletes.md", render_markdown(deleting_plan()))


def test_a_plan_that_deletes_says_so_first_and_last_in_every_format() -> None:
    plan = deleting_plan()
    assert plan.summary["delete"] == 2
    text = render_text(plan).splitlines()
    markdown = render_markdown(plan).splitlines()
    for lines in (text, markdown):
        assert "DELETES 2 jobs" in lines[0]
        assert "DELETES 2 jobs" in lines[-1]
    assert SOURCE in text[0] and '"Finance to SharePoint"' in text[0]
    assert markdown[0].startswith("**WARNING") and markdown[0].endswith("**")
    assert f"- DELETE `{SOURCE}` `Finance to SharePoint` — `retire-it` (original)" in markdown
    document = render_json(plan).splitlines()
    assert document[1].startswith('  "deletes": [')
    last_member = json.loads(render_json(plan))
    assert next(iter(last_member)) == "deletes" and list(last_member)[-1] == "summary"
    assert last_member["summary"]["delete"] == 2
    assert [d["job_id"] for d in last_member["deletes"]] == ["d" * 32, SOURCE]


def test_every_delete_has_a_line_of_its_own_before_any_detail() -> None:
    markdown = render_markdown(deleting_plan())
    listed, details = markdown.split("<details>", 1)
    assert listed.count("\n- DELETE `") == 2
    assert "### jobspec plan: deletes 2 jobs" in listed
    assert "```diff\n" in details


def twelve_deletes() -> Plan:
    """Twelve pruned clones, each deleted."""
    jobs = [live_job(SOURCE)]
    prior = {}
    for number in range(12):
        job_id = f"{number:032x}"
        jobs.append(live_job(job_id, name=f"Old clone {number}"))
        prior[f"gone-{number:02d}"] = entry(original="delete")["finance"].model_copy(
            update={"clone_id": job_id}
        )
    return plan_of({}, prior, jobs, prune=True)


@pytest.mark.parametrize("limit", [60_000, 4_000])
def test_twelve_deletes_are_twelve_lines_even_in_a_cut_comment(limit: int) -> None:
    markdown = render_markdown(twelve_deletes(), limit=limit)
    listed = markdown.split("<details>", 1)[0]
    assert "### jobspec plan: deletes 12 jobs" in listed
    for number in range(12):
        assert f"- DELETE `{number:032x}` `Old clone {number}` — `gone-{number:02d}`" in listed
    if limit < 10_000:
        assert "changed addresses cut" in markdown
        assert "`jobspec-plan` artifact" in markdown


@pytest.mark.parametrize("limit", [2_500, 4_000, 60_000])
def test_a_cut_delete_list_still_fits_and_says_so(limit: int) -> None:
    markdown = render_markdown(twelve_deletes(), limit=limit)
    assert len(markdown) < limit
    assert markdown.startswith("**WARNING: this plan DELETES 12 jobs")
    assert markdown.endswith(
        "DELETES 12 jobs on the server (deleting a job cancels its running transfer).**\n"
    )
    if limit == 2_500:
        assert "more deletes; the full plan (text and JSON) is" in markdown


def test_a_cut_comment_links_the_full_plan_when_told_where() -> None:
    url = "https://ci.example/run/1/artifacts"
    markdown = render_markdown(twelve_deletes(), limit=4_000, full_plan_url=url)
    assert f"[here](<{url}>)" in markdown


def test_field_changes_are_diff_lines() -> None:
    markdown = render_markdown(every_kind_plan())
    assert '@@ name @@\n- "Finance archive"\n+ "Finance (2027)"\n' in markdown
    assert "@@ transfer.destination.target.path (forces replace) @@" in markdown


def test_markdown_summary_tags_hold_no_backticks() -> None:
    for plan in (every_kind_plan(), deleting_plan()):
        for summary in re.findall(r"<summary>(.*?)</summary>", render_markdown(plan)):
            assert "`" not in summary


def test_no_delete_no_banner() -> None:
    text = render_text(every_kind_plan())
    assert "DELETE" not in text
    lines = text.splitlines()
    assert lines[0] == lines[-1] and lines[0].startswith("Plan: 2 to create")
    assert "Jobs to retire: 4 (0 to delete, 4 to set manual)." in lines[0]


def test_steps_name_the_jobs_they_act_on() -> None:
    text = render_text(every_kind_plan())
    assert (
        f'clone source {SOURCE} "Finance to SharePoint" as "Finance archive" with the overrides'
        in text
    )


@pytest.mark.parametrize("number", [1e-05, 0.1, 1e16, -0.0, 2.5e-300, 10**20])
def test_a_plan_file_keeps_every_number_as_it_was(number: float) -> None:
    """The plan's JSON writer may spell a float otherwise than `json.dumps` (`0.00001`), but
    the number read back, and so the seal, are the same."""
    plan = every_kind_plan()
    first = plan.actions[0]
    step = first.steps[0].model_copy(update={"body": {"priority": number, "name": "ÿ\u2028"}})
    plan = plan.model_copy(
        update={"actions": [first.model_copy(update={"steps": [step]}), *plan.actions[1:]]}
    )
    text = render_json(plan)
    back = Plan.from_json(text)  # the seal checks out
    assert back.actions[0].steps[0].body == {"priority": number, "name": "ÿ\u2028"}
