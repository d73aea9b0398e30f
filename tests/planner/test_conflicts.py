"""Transfer conflicts and running originals in the plan: small tables of desired / prior / live.

Every conflict kind comes with its accepted form (`allow_overlap_with`), which turns the plan
error into a warning. Builders are the planner tests' own.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from jobspec.conflicts import WRITTEN, Party, find_conflicts, normalise_path
from jobspec.endpoints import Unplaced
from jobspec.errors import PlanError
from jobspec.model import DesiredJob, JobSpec, LiveJob, RetireHow, SourceLocation, deep_merge
from jobspec.plan import ActionKind, Plan, StepOp
from jobspec.planner import listed_view, needed_job_ids, needs_every_job
from jobspec.render import render_text
from tests.planner.helpers import (
    CLONE,
    OTHER,
    OVERRIDES,
    RETIRED_SOURCE,
    SOURCE,
    applied_clone,
    desired,
    entry,
    live_job,
    plan_of,
)

SOURCE_B = "e" * 32
STRANGER = "f" * 32  # a live job jobspec does not manage
AUTO = {"schedule": {"mode": "auto"}}


def into(path: str, connection: str = "sp", **more: Any) -> dict[str, Any]:
    """Overrides for an automatic clone writing to `path`."""
    transfer = {"destination": {"connection": {"id": connection}, "target": {"path": path}}}
    return deep_merge({"name": f"clone into {path}", **AUTO, "transfer": transfer}, more)


def spec(address: str, source: str, overrides: dict[str, Any], **fields: Any) -> DesiredJob:
    line = 3 if address == "finance" else 20
    return DesiredJob(
        address=address,
        spec=JobSpec.model_validate({"source": source, "overrides": overrides, **fields}),
        location=SourceLocation(file="specs/jobs.yaml", line=line),
    )


def writer(job_id: str, path: str, connection: str = "sp", **changes: Any) -> LiveJob:
    """A live job on schedule auto writing to `path` (and syncing its own /Src/<id>)."""
    base = {
        "name": f"Writer {job_id[:4]}",
        "transfer": {
            "source": {"target": {"path": f"/Src/{job_id}"}},
            "destination": {"connection": {"id": connection}, "target": {"path": path}},
        },
    }
    return live_job(job_id, **deep_merge(base, changes))


def refused(want: dict[str, DesiredJob], jobs: list[LiveJob], **kwargs: Any) -> list[str]:
    with pytest.raises(PlanError) as caught:
        plan_of(want, kwargs.pop("prior", {}), jobs, **kwargs)
    return caught.value.problems


def warned(want: dict[str, DesiredJob], jobs: list[LiveJob], **kwargs: Any) -> list[str]:
    plan = plan_of(want, kwargs.pop("prior", {}), jobs, **kwargs)
    return [f"{w.location}: {w.address}: {w.message}" for w in plan.warnings]


# --- the kinds of conflict, each refused and then accepted -----------------------------------


def test_two_specs_cloning_into_the_same_folder_are_refused_naming_both() -> None:
    want = {
        "finance": spec("finance", SOURCE, into("/Archive")),
        "hr": spec("hr", SOURCE_B, into("/archive/")),
    }
    jobs = [writer(SOURCE, "/Sites/A"), writer(SOURCE_B, "/Sites/B")]
    (problem,) = refused(want, jobs)
    assert problem.startswith("specs/jobs.yaml:3:1: finance: transfer conflict: the clone of ")
    assert "destination '/Archive' on connection sp" in problem
    assert "is the same folder as destination '/archive/' on connection sp" in problem
    assert "written by the clone of hr (specs/jobs.yaml:20:1)" in problem
    assert problem.endswith("(if this is intended, add hr to allow_overlap_with)")


@pytest.mark.parametrize("who", ["finance", "hr"])
def test_two_specs_overlapping_on_purpose_is_a_warning(who: str) -> None:
    other = "hr" if who == "finance" else "finance"
    overrides = {"finance": into("/Archive"), "hr": into("/Archive/HR")}
    sources = {"finance": SOURCE, "hr": SOURCE_B}
    want = {
        address: spec(
            address,
            sources[address],
            overrides[address],
            allow_overlap_with=[other] if address == who else [],
        )
        for address in ("finance", "hr")
    }
    (warning,) = warned(want, [writer(SOURCE, "/Sites/A"), writer(SOURCE_B, "/Sites/B")])
    assert "destination '/Archive' on connection sp, which contains destination '/Archive/HR'" in (
        warning
    )
    assert warning.endswith("(accepted by allow_overlap_with)")


def test_a_clone_into_a_folder_an_unmanaged_job_writes_is_refused() -> None:
    want = {"finance": spec("finance", SOURCE, into("/Shared/Finance"))}
    jobs = [writer(SOURCE, "/Sites/A"), writer(STRANGER, "/Shared")]
    (problem,) = refused(want, jobs)
    assert "which is inside destination '/Shared' on connection sp" in problem
    assert f"job {STRANGER} 'Writer ffff' (not managed by jobspec)" in problem
    assert problem.endswith(f"add {STRANGER} to allow_overlap_with)")


def test_an_unmanaged_job_accepted_by_id_is_a_warning() -> None:
    want = {
        "finance": spec("finance", SOURCE, into("/Shared/Finance"), allow_overlap_with=[STRANGER])
    }
    (warning,) = warned(want, [writer(SOURCE, "/Sites/A"), writer(STRANGER, "/Shared")])
    assert STRANGER in warning and "accepted" in warning


def test_keep_leaves_the_original_writing_beside_its_clone() -> None:
    want = {"finance": spec("finance", SOURCE, {**AUTO, "name": "Copy"}, original="keep")}
    (problem,) = refused(want, [live_job(SOURCE)])
    assert f"job {SOURCE} 'Finance to SharePoint' (the original of finance)" in problem
    assert "destination '/Sites/Finance' on connection sp, which is the same folder as" in problem
    accepted = {
        "finance": spec(
            "finance",
            SOURCE,
            {**AUTO, "name": "Copy"},
            original="keep",
            allow_overlap_with=[SOURCE],
        )
    }
    assert len(warned(accepted, [live_job(SOURCE)])) == 1
    # `manual` takes the original off its schedule first: nothing overlaps
    retiring = {"finance": spec("finance", SOURCE, {**AUTO, "name": "Copy"}, original="manual")}
    assert warned(retiring, [live_job(SOURCE)]) == []


@pytest.mark.parametrize(
    ("mine", "theirs", "conflict"),
    [
        ("sync", "sync", True),
        ("move", "sync", True),
        ("move", "move", True),
        ("sync", "copy", False),  # copy only reads its source
        ("copy", "copy", False),
    ],
)
def test_sources_count_when_both_jobs_change_them(mine: str, theirs: str, conflict: bool) -> None:
    shared = {"source": {"connection": {"id": "box"}, "target": {"path": "/Finance"}}}
    overrides = into("/Archive/Mine", transfer={"transfer_type": mine, **shared})
    want = {"finance": spec("finance", SOURCE, overrides)}
    other = writer(STRANGER, "/Theirs", transfer={"transfer_type": theirs, **shared})
    jobs = [writer(SOURCE, "/Sites/A"), other]
    if not conflict:
        assert warned(want, jobs) == []
        return
    (problem,) = refused(want, jobs)
    assert "writes to source '/Finance' on connection box" in problem
    accepted = {"finance": spec("finance", SOURCE, overrides, allow_overlap_with=[STRANGER])}
    assert len(warned(accepted, jobs)) == 1


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (writer(STRANGER, "/Archive", schedule={"mode": "manual"}), "on manual"),
        (writer(STRANGER, "/Archive", disabled=True), "disabled"),
        (writer(STRANGER, "/Archive", connection="box"), "another connection"),
        (writer(STRANGER, "/Archive Old"), "a sibling sharing a prefix"),
        (writer(STRANGER, "/Archiv"), "a sibling that is a prefix"),
        (writer(STRANGER, "/Sites"), "another folder"),
    ],
)
def test_no_conflict(other: LiveJob, why: str) -> None:
    want = {"finance": spec("finance", SOURCE, into("/Archive"))}
    assert warned(want, [writer(SOURCE, "/Sites/A"), other]) == [], why


def test_a_manual_clone_overlaps_nothing_and_needs_no_listing() -> None:
    manual = deep_merge(into("/Shared"), {"schedule": {"mode": "manual"}})
    want = {"finance": spec("finance", SOURCE, manual)}
    assert warned(want, [writer(SOURCE, "/Sites/A"), writer(STRANGER, "/Shared")]) == []
    assert not needs_every_job(want)
    assert not needs_every_job({"finance": spec("finance", SOURCE, {"disabled": True})})
    assert needs_every_job({"finance": spec("finance", SOURCE, into("/Shared"))})
    assert needs_every_job({"finance": spec("finance", SOURCE, {"name": "inherits"})})


def test_a_clone_that_inherits_auto_from_its_source_is_checked() -> None:
    inherits = {"name": "Copy", "transfer": {"destination": {"target": {"path": "/Shared/x"}}}}
    want = {"finance": spec("finance", SOURCE, inherits)}
    (problem,) = refused(want, [writer(SOURCE, "/Sites/A"), writer(STRANGER, "/Shared")])
    assert "'/Shared/x'" in problem


def test_every_conflict_is_listed_and_nothing_is_planned() -> None:
    want = {
        "finance": spec("finance", SOURCE, into("/Shared/A")),
        "hr": spec("hr", SOURCE_B, into("/Shared/B")),
    }
    jobs = [writer(SOURCE, "/Sites/A"), writer(SOURCE_B, "/Sites/B"), writer(STRANGER, "/Shared")]
    problems = refused(want, jobs)
    assert [problem.split(": ")[1] for problem in problems] == ["finance", "hr"]


def test_a_job_the_plan_retires_is_no_conflict() -> None:
    # hr's original writes to /Archive, but hr takes it off its schedule
    want = {
        "finance": spec("finance", SOURCE, into("/Archive")),
        "hr": spec("hr", SOURCE_B, {"name": "HR", "schedule": {"mode": "manual"}}),
    }
    assert warned(want, [writer(SOURCE, "/Sites/A"), writer(SOURCE_B, "/Archive")]) == []
    kept = {**want, "hr": spec("hr", SOURCE_B, {"name": "HR"}, original="keep")}
    with pytest.raises(PlanError, match="the original of hr"):
        plan_of(kept, {}, [writer(SOURCE, "/Sites/A"), writer(SOURCE_B, "/Archive")])


def test_a_clone_is_not_compared_with_its_own_current_self() -> None:
    clone = applied_clone(**AUTO)
    want = desired(overrides=deep_merge(OVERRIDES, AUTO))
    plan = plan_of(want, entry(deep_merge(OVERRIDES, AUTO)), [RETIRED_SOURCE, clone])
    assert plan.actions[0].kind is ActionKind.noop
    assert plan.warnings == []


def test_the_live_clone_of_an_untargeted_address_counts_and_can_be_accepted_by_address() -> None:
    their_clone = writer(OTHER, "/Archive")
    prior = {
        "hr": entry(original_retired="manual")["finance"].model_copy(update={"clone_id": OTHER})
    }
    want = {
        "finance": spec("finance", SOURCE, into("/Archive/x")),
        "hr": spec("hr", SOURCE_B, {"name": "HR"}),
    }
    jobs = [writer(SOURCE, "/Sites/A"), writer(SOURCE_B, "/Sites/B", schedule={"mode": "manual"})]
    (problem,) = refused(want, [*jobs, their_clone], prior=prior, targets={"finance"})
    assert f"job {OTHER} 'Writer cccc' (the clone of hr)" in problem
    accepted = {
        **want,
        "finance": spec("finance", SOURCE, into("/Archive/x"), allow_overlap_with=["hr"]),
    }
    assert len(warned(accepted, [*jobs, their_clone], prior=prior, targets={"finance"})) == 1


# --- path equivalence --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("/Finance", "/finance", True),  # Box, SharePoint, Windows shares: case-insensitive
        ("/Finance/", "/Finance", True),  # trailing separator
        ("\\\\fs01\\Finance\\Q1", "/fs01/Finance/Q1", True),  # file shares: \ is /
        ("//Finance///Q1", "/Finance/Q1", True),  # repeated separators
        ("Finance", "/Finance", True),  # no leading separator
        ("/Finance/./Q1", "/Finance/Q1", True),
        ("/Finance /Q1", "/Finance/Q1", True),  # spaces around a name
        ("/STRASSE", "/strasse", True),
        ("/Caf\u00e9", "/cafe\u0301", True),  # composed and decomposed é
        ("/ÉTÉ", "/été", True),
        ("/Finance/Q1", "/Finance/Q2", False),
        ("/Finance", "/Finance Old", False),
        ("/Finance/../HR", "/HR", False),  # `..` is a name, not resolved
        ("/", "", True),  # the root
    ],
)
def test_path_equivalence(one: str, other: str, same: bool) -> None:
    assert (normalise_path(one) == normalise_path(other)) is same


@pytest.mark.parametrize(
    ("outer", "inner", "nested"),
    [
        ("/", "/anything", True),
        ("/Sites", "/sites/finance", True),
        ("\\Sites", "/Sites/Finance/Q1", True),
        ("/Site", "/Sites/Finance", False),
        ("/Sites/Finance", "/Sites", True),  # either way round
    ],
)
def test_nesting(outer: str, inner: str, nested: bool) -> None:
    a, b = normalise_path(outer), normalise_path(inner)
    assert (a.startswith(b) or b.startswith(a)) is nested


# --- running originals -----------------------------------------------------------------------


def test_a_running_original_to_delete_is_shown_with_the_way_to_wait() -> None:
    want = desired(overrides=OVERRIDES, original="delete")
    plan = plan_of(want, {}, [live_job(SOURCE, status="running")])
    (warning,) = plan.warnings
    assert warning.address == "finance" and warning.location == "specs/finance.yaml:3:1"
    assert f"original {SOURCE} is running right now: deleting it cancels" in warning.message
    assert "--wait-for-idle" in warning.message
    retire = plan.actions[0].steps[-1]
    assert (retire.how, retire.wait_for_idle) == (RetireHow.deleted, False)


def test_wait_for_idle_in_the_spec_marks_the_delete() -> None:
    want = desired(overrides=OVERRIDES, original="delete", wait_for_idle=True)
    plan = plan_of(want, {}, [live_job(SOURCE, status="running")])
    retire = plan.actions[0].steps[-1]
    assert (retire.op, retire.how, retire.wait_for_idle) == (StepOp.retire, RetireHow.deleted, True)
    assert plan.warnings[0].message.endswith("apply deletes it once the run ends")
    assert Plan.from_json(plan.to_json()) == plan
    assert (
        f'3. DELETE original {SOURCE} "Finance to SharePoint" once it is not running '
        "(wait_for_idle)" in render_text(plan)
    )


@pytest.mark.parametrize(
    ("status", "policy", "expected"),
    [
        ("running", "manual", "setting its schedule to manual lets this run finish"),
        ("start", "delete", "deleting it cancels"),
        ("idle", "delete", None),
        ("paused", "delete", None),
        ("running", "keep", None),  # nothing retires it
    ],
)
def test_running_warning_table(status: str, policy: str, expected: str | None) -> None:
    plan = plan_of(
        desired(overrides=OVERRIDES, original=policy), {}, [live_job(SOURCE, status=status)]
    )
    messages = [w.message for w in plan.warnings]
    if expected is None:
        assert messages == []
    else:
        (message,) = messages
        assert expected in message


def test_a_running_old_clone_to_delete_is_shown_too() -> None:
    moved = deep_merge(OVERRIDES, {"transfer": {"destination": {"target": {"path": "/New"}}}})
    prior = entry(original="delete", original_retired="deleted")
    plan = plan_of(
        desired(overrides=moved, original="delete"), prior, [applied_clone(status="running")]
    )
    (warning,) = plan.warnings
    assert warning.message.startswith(f"old clone {CLONE} is running right now")


# --- speed -------------------------------------------------------------------------------------


def _hex(number: int) -> str:
    return f"{number:032x}"


def _thousand_against_five_thousand() -> list[Party]:
    """6,000 scheduled jobs under one root, one overlap among them."""
    others = [
        Party(
            _hex(n),
            writer(_hex(n), f"/Sites/Bench/{n}", transfer={"transfer_type": "sync"}).raw,
            (_hex(n),),
        )
        for n in range(5_000)
    ]
    mine = [
        Party(
            f"bench-{n}", {**AUTO, "transfer": into(f"/Archive/{n:05d}")["transfer"]}, (), (), True
        )
        for n in range(1_000)
    ]
    mine.append(
        Party("overlap", {**AUTO, "transfer": into("/Sites/Bench/7/x")["transfer"]}, (), (), True)
    )
    return [*mine, *others]


def test_a_thousand_clones_against_five_thousand_jobs_find_the_one_overlap() -> None:
    found = find_conflicts(_thousand_against_five_thousand())
    assert [(c.first.key, c.second.key) for c in found] == [("overlap", _hex(7))]


@pytest.mark.perf  # a CPU-time bound: run with -m perf
def test_a_thousand_clones_against_five_thousand_jobs_is_not_quadratic() -> None:
    """Sub-quadratic: 6,000 scheduled jobs under one root; a pairwise check would be 30 M."""
    parties = _thousand_against_five_thousand()
    started = time.process_time()
    found = find_conflicts(parties)
    spent = time.process_time() - started
    assert [(c.first.key, c.second.key) for c in found] == [("overlap", _hex(7))]
    assert spent < 1.0, f"{spent:.3f} s of CPU"  # about 0.03 s here; a generous bound for CI


# --- the listing keeps only what the plan reads ------------------------------------------------


def _slimmed(want: dict[str, DesiredJob], jobs: list[LiveJob]) -> list[LiveJob]:
    """The jobs as `jobspec plan` keeps them from a listing: whole only when named."""
    named = needed_job_ids(want, {})
    return [job if job.id in named else LiveJob.from_raw(listed_view(job.raw)) for job in jobs]


def _targeted(target: dict[str, Any]) -> LiveJob:
    """A scheduled stranger whose destination target is `target` alone (no `path`)."""
    raw = writer(STRANGER, "/unused").raw
    raw["transfer"]["destination"]["target"] = target
    return LiveJob.from_raw(raw)


@pytest.mark.parametrize(
    "other",
    [
        writer(STRANGER, "/Archive"),
        writer(STRANGER, "/Archive/Deeper", transfer={"transfer_type": "move"}),
        writer(STRANGER, "/Archive", schedule={"mode": "manual"}),
        writer(STRANGER, "/Archive", disabled=True),
        writer(STRANGER, "/Archive", connection="box"),
        writer(STRANGER, "/Elsewhere", name="clone into /Archive"),  # the name check
        writer(  # a sync writes its source too: into the clone's folder
            STRANGER,
            "/Elsewhere",
            transfer={
                "transfer_type": "sync",
                "source": {"connection": {"id": "sp"}, "target": {"path": "/Archive/In"}},
            },
        ),
        writer(STRANGER, "/Archive", connection={"id": "sp", "name": "SP", "platform": "x"}),
        writer(STRANGER, "/Archive", connection=7),  # a number for an id
        # a target as an item chain (DryvIQ's documented shape), naming /Archive/Q1
        _targeted({"item": {"name": "Q1", "parent": {"name": "Archive"}}}),
        _targeted({"item": {"id": 9}}),  # one the check cannot place: named in a warning
        _targeted({"uri": "box://9"}),
        writer(STRANGER, "/Archive", status="running", size_estimate={"bytes": 1}),
    ],
)
def test_a_plan_from_slim_listed_jobs_is_the_plan_from_whole_ones(other: LiveJob) -> None:
    for allow in ([], [STRANGER]):
        want = {"finance": spec("finance", SOURCE, into("/Archive"), allow_overlap_with=allow)}
        jobs = [writer(SOURCE, "/Sites/A"), other]
        try:
            whole = plan_of(want, {}, jobs).model_dump()
        except PlanError as exc:
            whole = exc.problems
        try:
            slim = plan_of(want, {}, _slimmed(want, jobs)).model_dump()
        except PlanError as exc:
            slim = exc.problems
        assert slim == whole
    kept = listed_view(other.raw)
    assert set(kept) <= {"id", "name", "kind", "status", WRITTEN}
    assert all(type(part) in (str, Unplaced) for place in kept.get(WRITTEN, ()) for part in place)
