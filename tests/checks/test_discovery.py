"""`import --discover`'s matching, and the refusal that leads after a lost state."""

from __future__ import annotations

from jobspec.checks.discovery import match_clones
from jobspec.commands.observe import lost_state_refusal
from jobspec.errors import PlanError
from tests.planner.helpers import CLONE, SOURCE, desired, entry, live_job


def test_the_one_job_bearing_a_spec_s_clone_name_is_matched() -> None:
    want = desired("finance") | desired("hr", overrides={"name": "HR clone"})
    jobs = [
        live_job(SOURCE),
        live_job(CLONE, name="Finance to SharePoint (finance)"),
        live_job("d" * 32, name="HR clone"),
        live_job("e" * 32, name="HR clone"),
    ]
    found = {m.address: m for m in match_clones(desired=want, entries={}, jobs=jobs)}
    assert found["finance"].job is not None and found["finance"].job.id == CLONE
    assert found["hr"].job is None and "2 jobs are named 'HR clone'" in str(found["hr"].reason)


def test_a_spec_state_knows_is_not_matched_and_a_gone_source_matches_by_the_suffix() -> None:
    want = desired("finance")
    assert match_clones(desired=want, entries=entry(), jobs=[live_job(CLONE)]) == []
    stray = live_job("d" * 32, name="Old name (finance)")  # the source is gone
    (match,) = match_clones(desired=want, entries={}, jobs=[stray])
    assert match.job is not None and match.job.id == stray.id


def _refused(count: int) -> PlanError:
    strays = {f"a{n:02}": f"{n:032x}" for n in range(count)}
    problems = [f"specs/x.yaml:1: {address}: clash" for address in strays] + ["other"]
    return PlanError(problems, strays=strays)


def test_a_lost_state_refusal_names_the_command_first_and_at_most_ten_addresses() -> None:
    short = lost_state_refusal(_refused(30), empty=True, backup=False).message.splitlines()
    assert short[0].startswith("cannot plan: run `jobspec import --discover` first: 30 specs'")
    assert len(short) == 1 + 10 + 2 and short[-2] == "  and 20 more"
    assert short[-1] == "  (1 other problem: plan again afterwards to see them)"
    restore = lost_state_refusal(_refused(3), empty=True, backup=True).message
    assert restore.startswith("cannot plan: run `jobspec state restore` first")
    few = _refused(3)
    assert lost_state_refusal(few, empty=False, backup=True) is few  # a clash or two: as is
