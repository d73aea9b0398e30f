"""Offline checks of what `jobspec import` is given: job ids, addresses, the rows of a file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jobspec.errors import UsageError
from jobspec.model import JOB_ID_RE, DesiredJob

__all__ = ["ImportRow", "check_import", "check_job_id", "check_rows", "import_refused"]


def check_job_id(job_id: str) -> None:
    """Refuse what is not a job id (it goes into a URL), before any call is made."""
    if not JOB_ID_RE.match(job_id):
        raise UsageError(f"{job_id!r} is not a job id (32 hex digits)")


def check_import(desired: Mapping[str, DesiredJob], *, address: str, job_id: str) -> DesiredJob:
    """The spec `address` names, once the id looks like a job id; offline, before any call."""
    check_job_id(job_id)
    if address not in desired:
        raise UsageError(
            f"no spec has the address {address}", hint="import needs the spec written first"
        )
    return desired[address]


@dataclass(frozen=True)
class ImportRow:
    """One row of an `import --from` file: adopt `job_id` as `address`'s clone."""

    address: str
    job_id: str
    where: str  # file:line, for messages


def import_refused(problems: list[str], *, rows: int) -> UsageError:
    count = len(problems)
    listed = "\n".join(f"  {problem}" for problem in problems)
    return UsageError(
        f"import refused: {count} problem{'s' if count > 1 else ''} in {rows} row"
        f"{'s' if rows != 1 else ''}; nothing was imported\n{listed}",
        hint="fix those rows (or the specs) and import again: the batch is all or nothing",
    )


def check_rows(desired: Mapping[str, DesiredJob], rows: list[ImportRow]) -> list[str]:
    """Offline problems with import rows: ids, addresses, an address or job named twice."""
    problems = []
    first_address: dict[str, str] = {}
    first_job: dict[str, str] = {}
    for row in rows:
        if not JOB_ID_RE.match(row.job_id):
            problems.append(f"{row.where}: {row.job_id!r} is not a job id (32 hex digits)")
        if row.address not in desired:
            problems.append(
                f"{row.where}: no spec has the address {row.address} (write the spec first)"
            )
        earlier = first_address.setdefault(row.address, row.where)
        if earlier != row.where:
            problems.append(f"{row.where}: {row.address} is imported at {earlier} already")
        earlier = first_job.setdefault(row.job_id, row.where)
        if earlier != row.where:
            problems.append(
                f"{row.where}: job {row.job_id} is imported at {earlier} already; one job "
                "can be the clone of one address"
            )
    return problems
