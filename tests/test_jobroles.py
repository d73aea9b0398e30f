"""Selecting jobs by connection and path, and what each job is to jobspec: table tests."""

from __future__ import annotations

import pytest

from jobspec.jobroles import JobFilter, clone_names, roles, under
from tests.planner.helpers import CLONE, OTHER, SOURCE, applied_clone, desired, entry, live_job

FINANCE = live_job(SOURCE)  # box:/Finance → sp:/Sites/Finance
NUMERIC = live_job(OTHER, transfer={"source": {"connection": {"id": 2222}}})


@pytest.mark.parametrize(
    ("where", "picked"),
    [
        (JobFilter(), True),
        (JobFilter(connection="box"), True),
        (JobFilter(connection="sp"), True),
        (JobFilter(connection="gdrive"), False),
        (JobFilter(source_connection="box"), True),
        (JobFilter(source_connection="sp"), False),
        (JobFilter(destination_connection="sp"), True),
        (JobFilter(destination_connection="box"), False),
        (JobFilter(path_prefix="/Sites"), True),
        (JobFilter(path_prefix="/Site"), False),  # a folder, not a string prefix
        (JobFilter(path_prefix="/Finance/"), True),
        (JobFilter(connection="box", path_prefix="/Sites"), False),  # the path on box's side
        (JobFilter(connection="sp", path_prefix="/Sites"), True),
        (JobFilter(source_connection="box", path_prefix="/Finance"), True),
        (JobFilter(destination_connection="sp", path_prefix="/Finance"), False),
    ],
)
def test_a_filter_selects_the_jobs_that_use_a_connection_or_folder(
    where: JobFilter, picked: bool
) -> None:
    assert where.picks(FINANCE) is picked


def test_a_numeric_connection_id_matches_its_text() -> None:
    assert JobFilter(connection="2222").picks(NUMERIC)
    assert not JobFilter(connection="2222").picks(FINANCE)


@pytest.mark.parametrize(
    ("path", "prefix", "inside"),
    [("/a/b", "/a", True), ("/a", "/a", True), ("/ab", "/a", False), ("/x", "/", True)],
)
def test_under_is_by_folder(path: str, prefix: str, inside: bool) -> None:
    assert under(path, prefix) is inside


def test_roles_name_the_address_that_manages_each_job() -> None:
    want = desired("finance", overrides={"schedule": {"mode": "manual"}})
    kept = desired("kept", source=OTHER, original="keep")
    prior = entry()
    stray = live_job("e" * 32, name="Finance to SharePoint (finance)")
    loose = live_job("f" * 32, name="Someone else's")
    jobs = [FINANCE, applied_clone(), live_job(OTHER), stray, loose]
    live = {job.id: job for job in jobs}
    found = roles(jobs=jobs, desired=want | kept, prior=prior, live=live)
    assert found == {
        SOURCE: "the original of finance",
        CLONE: "the clone of finance",
        OTHER: "the source of kept",
        # state knows finance's clone by id; a job bearing the spec's default clone name is
        # still recognised: a clone state lost track of
        "e" * 32: "the clone of finance (by name; not in state)",
        "f" * 32: "unmanaged",
    }


def test_clone_names_come_from_specs_and_from_state_in_one_normal_form() -> None:
    source = live_job(SOURCE, name="Cafe\u0301")  # a combining accent
    names = clone_names(desired=desired("finance"), prior={}, live={SOURCE: source})
    assert names == {"Caf\u00e9 (finance)": "finance"}
