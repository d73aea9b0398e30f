"""checks.adoption: which jobs may be adopted as a spec's clone, as small tables."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec.checks.adoption import adopted_entry, check_unowned
from jobspec.errors import UsageError
from jobspec.model import (
    DesiredJob,
    JobSpec,
    LiveJob,
    OriginalPolicy,
    SourceLocation,
    StateEntry,
    deep_merge,
    digest,
)

SOURCE, JOB, OTHER, OLD = "a" * 32, "b" * 32, "c" * 32, "d" * 32


def wanted(address: str = "finance", **spec: Any) -> DesiredJob:
    return DesiredJob(
        address=address,
        spec=JobSpec.model_validate({"source": SOURCE, **spec}),
        location=SourceLocation(file="specs/a.yaml", line=1),
    )


def live(job_id: str, **changes: Any) -> LiveJob:
    raw: dict[str, Any] = {
        "id": job_id,
        "kind": "transfer",
        "name": "Finance (finance)",
        "transfer": {
            "source": {"connection": {"id": "box"}, "target": {"path": "/Finance"}},
            "destination": {"connection": {"id": "sp"}, "target": {"path": "/Sites/Finance"}},
        },
    }
    return LiveJob.from_raw(deep_merge(raw, changes))


def held(clone: str, source: str = OTHER, superseded: tuple[str, ...] = ()) -> StateEntry:
    return StateEntry(
        source_id=source,
        clone_id=clone,
        original=OriginalPolicy.manual,
        applied={},
        applied_digest=digest({}),
        superseded=list(superseded),
    )


@pytest.mark.parametrize(
    ("entries", "desired", "message"),
    [
        ({}, {}, None),
        ({"hr": held(JOB)}, {}, f"job {JOB} is already the clone of hr in state"),
        ({"hr": held(OTHER, superseded=(JOB,))}, {}, f"job {JOB} is already the clone of hr"),
        ({"hr": held(OTHER, source=JOB)}, {}, f"job {JOB} is the source of hr"),
        ({}, {"legal": wanted("legal", source=JOB)}, f"job {JOB} is the source of legal"),
    ],
)
def test_check_unowned(
    entries: dict[str, StateEntry], desired: dict[str, DesiredJob], message: str | None
) -> None:
    if message is None:
        check_unowned(entries, wanted=wanted(), job_id=JOB, desired=desired)
        return
    with pytest.raises(UsageError) as refused:
        check_unowned(entries, wanted=wanted(), job_id=JOB, desired=desired)
    assert refused.value.message.startswith(message)


@pytest.mark.parametrize(
    ("job", "source", "spec", "mismatch"),
    [
        (live(JOB), live(SOURCE), {}, None),
        (live(JOB, kind="other"), live(SOURCE), {}, "kind 'other', the source's is 'transfer'"),
        (
            live(JOB, transfer={"source": {"target": {"path": "/HR"}}}),
            live(SOURCE),
            {},
            "transfer.source.target.path is '/HR', the source's is '/Finance'",
        ),
        (  # the spec changes that endpoint: the plan replaces the clone if it differs
            live(JOB, transfer={"source": {"target": {"path": "/HR"}}}),
            live(SOURCE),
            {"overrides": {"transfer": {"source": {"target": {"path": "/Other"}}}}},
            None,
        ),
        (live(JOB), None, {}, None),  # source gone: the default clone name matches
        (live(JOB, name="Something else"), None, {}, "is not the spec's clone name"),
    ],
)
def test_adopted_entry(
    job: LiveJob, source: LiveJob | None, spec: dict[str, Any], mismatch: str | None
) -> None:
    found = {job.id: job, **({SOURCE: source} if source is not None else {})}
    if mismatch is None:
        entry = adopted_entry(found, wanted=wanted(**spec), job_id=JOB, force=False)
        assert (entry.clone_id, entry.source_id, entry.forced_import) == (JOB, SOURCE, False)
        return
    with pytest.raises(UsageError, match="does not look like a clone") as refused:
        adopted_entry(found, wanted=wanted(**spec), job_id=JOB, force=False)
    assert mismatch in refused.value.message
    forced = adopted_entry(found, wanted=wanted(**spec), job_id=JOB, force=True)
    assert forced.forced_import


def test_a_job_that_does_not_exist_is_refused() -> None:
    with pytest.raises(UsageError, match="does not exist on the server"):
        adopted_entry({}, wanted=wanted(), job_id=JOB, force=True)


def _chained(job_id: str) -> LiveJob:
    """`live(job_id)` with its destination as the item chain naming `/Sites/Finance`."""
    raw = live(job_id).raw
    chain = {"item": {"parent": {"root": True, "name": "Sites"}, "name": "Finance"}}
    raw["transfer"]["destination"]["target"] = chain
    return LiveJob.from_raw(raw)


def test_an_item_chain_and_the_path_it_names_are_the_same_endpoint() -> None:
    found = {SOURCE: _chained(SOURCE), JOB: live(JOB)}
    entry = adopted_entry(found, wanted=wanted(), job_id=JOB, force=False)
    assert not entry.forced_import


def test_a_spec_moving_a_connection_by_name_does_not_make_the_clone_a_stranger() -> None:
    moved = {"transfer": {"destination": {"connection": {"name": "Box Archive"}}}}
    found = {
        SOURCE: live(SOURCE),
        JOB: live(JOB, transfer={"destination": {"connection": {"id": "bx"}}}),
    }
    entry = adopted_entry(found, wanted=wanted(overrides=moved), job_id=JOB, force=False)
    assert not entry.forced_import
