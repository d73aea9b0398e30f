"""checks.import_rows: what `jobspec import` refuses offline, as small tables."""

from __future__ import annotations

import pytest

from jobspec.checks.import_rows import ImportRow, check_import, check_job_id, check_rows
from jobspec.errors import UsageError
from jobspec.model import DesiredJob, JobSpec, SourceLocation

SOURCE, JOB, OTHER = "a" * 32, "b" * 32, "c" * 32


def specs(*addresses: str) -> dict[str, DesiredJob]:
    return {
        address: DesiredJob(
            address=address,
            spec=JobSpec.model_validate({"source": SOURCE}),
            location=SourceLocation(file="specs/a.yaml", line=1),
        )
        for address in addresses
    }


@pytest.mark.parametrize(
    ("job_id", "refused"),
    [(JOB, False), (JOB.upper(), True), ("b" * 31, True), ("x" * 32, True), ("", True)],
)
def test_check_job_id(job_id: str, refused: bool) -> None:
    if refused:
        with pytest.raises(UsageError, match="is not a job id"):
            check_job_id(job_id)
    else:
        check_job_id(job_id)


@pytest.mark.parametrize(
    ("address", "job_id", "message"),
    [
        ("finance", JOB, None),
        ("hr", JOB, "no spec has the address hr"),
        ("finance", "nope", "'nope' is not a job id"),
        ("hr", "nope", "'nope' is not a job id"),  # the id is checked first
    ],
)
def test_check_import(address: str, job_id: str, message: str | None) -> None:
    desired = specs("finance")
    if message is None:
        assert check_import(desired, address=address, job_id=job_id) is desired["finance"]
        return
    with pytest.raises(UsageError) as refused:
        check_import(desired, address=address, job_id=job_id)
    assert refused.value.message.startswith(message)


def row(address: str, job_id: str, line: int) -> ImportRow:
    return ImportRow(address=address, job_id=job_id, where=f"rows.csv:{line}")


@pytest.mark.parametrize(
    ("rows", "problems"),
    [
        ([row("finance", JOB, 1), row("hr", OTHER, 2)], []),
        ([row("finance", "x", 1)], ["rows.csv:1: 'x' is not a job id (32 hex digits)"]),
        (
            [row("legal", JOB, 1)],
            ["rows.csv:1: no spec has the address legal (write the spec first)"],
        ),
        (
            [row("finance", JOB, 1), row("finance", OTHER, 2)],
            ["rows.csv:2: finance is imported at rows.csv:1 already"],
        ),
        (
            [row("finance", JOB, 1), row("hr", JOB, 2)],
            [
                f"rows.csv:2: job {JOB} is imported at rows.csv:1 already; one job can be the "
                "clone of one address"
            ],
        ),
    ],
)
def test_check_rows(rows: list[ImportRow], problems: list[str]) -> None:
    assert check_rows(specs("finance", "hr"), rows) == problems
