"""`jobspec import`: adopt existing jobs as clones, one (ADDRESS JOB_ID) or a file of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jobspec.api import Api
from jobspec.checks.adoption import adopted_entry, check_unowned
from jobspec.checks.discovery import match_clones
from jobspec.checks.import_rows import ImportRow, check_import, check_rows, import_refused
from jobspec.errors import UsageError
from jobspec.model import DesiredJob, StateEntry
from jobspec.netaddr import server_identity
from jobspec.spec import read_pairs
from jobspec.state import StateSession, StateStore

__all__ = [
    "BatchImport",
    "Discovered",
    "ImportRow",
    "import_batch",
    "import_clone",
    "import_discovered",
    "import_job",
    "read_import_file",
]


def scrubbed(entry: StateEntry, scrub: Callable[[str], str] | None) -> StateEntry:
    """`entry` with every known secret masked, as state will record it (a server may echo a
    password into a job's fields, and state is a file people copy around)."""
    if scrub is None:
        return entry
    text = entry.model_dump_json()
    masked = scrub(text)
    return entry if masked == text else StateEntry.model_validate_json(masked)


async def import_clone(
    session: StateSession,
    api: Api,
    *,
    wanted: DesiredJob,
    job_id: str,
    desired: Mapping[str, DesiredJob] | None = None,
    force: bool = False,
    scrub: Callable[[str], str] | None = None,
) -> StateEntry:
    """Adopt an existing job as the clone of `wanted`; the next plan verifies its fields.

    Refused for a job that state already holds (under any address) or that a spec clones:
    adopting it would hand one job to two owners, and the next plan could retire it as an
    "old clone". Refused too, unless `force`, for a job that cannot be a clone of the spec's
    source: another kind, or an endpoint the spec does not change that differs from the
    source's. A forced import is recorded, and every plan says so. `scrub` takes any known
    secret a server echoed into the job's fields out of what state records.
    """
    session.state.check_ownership()
    session.state.check_server(server_identity(api.server))
    check_unowned(session.entries, wanted=wanted, job_id=job_id, desired=desired)
    found = await api.get_jobs({job_id, wanted.spec.source})
    entry = scrubbed(adopted_entry(found, wanted=wanted, job_id=job_id, force=force), scrub)
    session.set_server(server_identity(api.server))
    session.put(wanted.address, entry)
    return entry


async def import_job(
    api: Api,
    store: StateStore,
    *,
    desired: Mapping[str, DesiredJob],
    address: str,
    job_id: str,
    lock_timeout: float = 0.0,
    force: bool = False,
    scrub: Callable[[str], str] | None = None,
) -> StateEntry:
    """`jobspec import`: under the lock, adopt `job_id` as the clone of `address`."""
    wanted = check_import(desired, address=address, job_id=job_id)
    with store.lock(timeout=lock_timeout, operation="import") as session:
        if address in session.entries:
            raise UsageError(
                f"{address} already has clone {session.entries[address].clone_id}",
                hint=f"`jobspec state rm {address}` first to replace it",
            )
        return await import_clone(
            session, api, wanted=wanted, job_id=job_id, desired=desired, force=force, scrub=scrub
        )


@dataclass(frozen=True)
class BatchImport:
    """What `import --from` did: entries written, and rows state already held as written."""

    imported: dict[str, StateEntry]
    already: list[str]


def read_import_file(path: Path) -> list[ImportRow]:
    """The rows of a YAML (`address: job_id`) or CSV (`address,job_id`) file; every problem
    in it raised at once."""
    if path.suffix.lower() in (".yaml", ".yml"):
        rows, problems = _yaml_rows(path)
    elif path.suffix.lower() == ".csv":
        rows, problems = _csv_rows(path)
    else:
        raise UsageError(
            f"{path}: the import file must be YAML (.yaml, .yml) or CSV (.csv)",
            hint="YAML maps each address to a job id; CSV has the columns address,job_id",
        )
    if problems:
        raise import_refused(problems, rows=len(rows) + len(problems))
    if not rows:
        raise UsageError(f"{path} names no address to import")
    return rows


def _yaml_rows(path: Path) -> tuple[list[ImportRow], list[str]]:
    pairs, found = read_pairs(path)
    problems = [str(problem) for problem in found]
    rows = []
    for key, value, line in pairs:
        where = f"{path}:{line}"
        if not isinstance(key, str) or not isinstance(value, str):
            problems.append(
                f"{where}: expected `address: job_id` (both text; quote an id made only of "
                f"digits), not {key!r}: {value!r}"
            )
            continue
        rows.append(ImportRow(address=key, job_id=value, where=where))
    return rows, problems


def _csv_rows(path: Path) -> tuple[list[ImportRow], list[str]]:
    import csv

    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            records = [(number, record) for number, record in enumerate(csv.reader(stream), 1)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    rows: list[ImportRow] = []
    problems: list[str] = []
    for number, record in records:
        cells = [cell.strip() for cell in record]
        while cells and not cells[-1]:
            cells.pop()
        if not cells or cells[0].startswith("#"):
            continue
        if not rows and not problems and [c.lower() for c in cells] == ["address", "job_id"]:
            continue  # the header
        where = f"{path}:{number}"
        if len(cells) != 2:
            problems.append(f"{where}: expected two columns, address,job_id; found {len(cells)}")
            continue
        rows.append(ImportRow(address=cells[0], job_id=cells[1], where=where))
    return rows, problems


async def import_batch(
    api: Api,
    store: StateStore,
    *,
    desired: Mapping[str, DesiredJob],
    rows: list[ImportRow],
    lock_timeout: float = 0.0,
    force: bool = False,
    scrub: Callable[[str], str] | None = None,
) -> BatchImport:
    """`jobspec import --from FILE`: every row checked, then all adopted under one lock, or none.

    Each row passes the checks `jobspec import` makes (import_clone); a row whose address
    state already holds with that very job is done already (a rerun after an interrupted
    import), not a problem. Every problem of every row is listed in one refusal.
    """
    problems = check_rows(desired, rows)
    if problems:
        raise import_refused(problems, rows=len(rows))
    with store.lock(timeout=lock_timeout, operation="import") as session:
        session.state.check_ownership()
        session.state.check_server(server_identity(api.server))
        entries = session.entries
        already, todo = [], []
        for row in rows:
            held = entries.get(row.address)
            if held is not None and held.clone_id == row.job_id:
                already.append(row.address)
                continue
            if held is not None:
                problems.append(
                    f"{row.where}: {row.address} already has clone {held.clone_id} in state"
                )
                continue
            try:
                check_unowned(
                    entries, wanted=desired[row.address], job_id=row.job_id, desired=desired
                )
            except UsageError as exc:
                problems.append(f"{row.where}: {row.address}: {exc.message}")
                continue
            todo.append(row)
        ids = {row.job_id for row in todo} | {desired[row.address].spec.source for row in todo}
        found = await api.get_jobs(ids) if todo else {}
        adopted: dict[str, StateEntry] = {}
        for row in todo:
            wanted = desired[row.address]
            try:
                adopted[row.address] = scrubbed(
                    adopted_entry(found, wanted=wanted, job_id=row.job_id, force=force), scrub
                )
            except UsageError as exc:
                problems.append(f"{row.where}: {row.address}: {exc.message}")
        if problems:
            raise import_refused(problems, rows=len(rows))
        if adopted:
            session.set_server(server_identity(api.server))
        for address, entry in adopted.items():
            session.put(address, entry)
    return BatchImport(imported=adopted, already=already)


@dataclass(frozen=True)
class Discovered:
    """What `import --discover` did: entries written, and addresses left with the reason."""

    imported: dict[str, StateEntry]
    left: list[tuple[str, str]]


async def import_discovered(
    api: Api,
    store: StateStore,
    *,
    desired: Mapping[str, DesiredJob],
    lock_timeout: float = 0.0,
) -> Discovered:
    """`jobspec import --discover`: under one lock, adopt for each spec state does not know the
    live job bearing its clone name (`checks.discovery`), each checked as `import` checks it.

    A job that fails a check is left, with why; the others are adopted all the same: each
    adoption stands alone, and the next plan verifies every clone against its spec.
    """
    with store.lock(timeout=lock_timeout, operation="import") as session:
        session.state.check_ownership()
        session.state.check_server(server_identity(api.server))
        jobs = await api.list_jobs()
        entries = session.entries
        live = {job.id: job for job in jobs}
        adopted: dict[str, StateEntry] = {}
        left: list[tuple[str, str]] = []
        for match in match_clones(desired=desired, entries=entries, jobs=jobs):
            if match.job is None:
                left.append((match.address, match.reason or ""))
                continue
            wanted = desired[match.address]
            taken = [a for a, e in adopted.items() if e.clone_id == match.job.id]
            if taken:
                left.append((match.address, f"job {match.job.id} is named as {taken[0]}'s too"))
                continue
            try:
                check_unowned(entries, wanted=wanted, job_id=match.job.id, desired=desired)
                adopted[match.address] = adopted_entry(
                    live, wanted=wanted, job_id=match.job.id, force=False
                )
            except UsageError as exc:
                left.append((match.address, f"job {match.job.id}: {exc.message}"))
        if adopted:
            session.set_server(server_identity(api.server))
        for address, entry in adopted.items():
            session.put(address, entry)
    return Discovered(imported=adopted, left=left)
