"""Whether a job may be adopted as a spec's clone, and the state entry adopting it.

Pure: given the state's entries, the specs and the jobs read, these decide; `commands.adopt`
reads the jobs and writes the entry under the lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobspec import diff
from jobspec.endpoints import with_folders
from jobspec.errors import UsageError
from jobspec.model import DesiredJob, LiveJob, StateEntry, digest
from jobspec.naming import name_key
from jobspec.planner import observed_retirement

__all__ = ["adopted_entry", "check_unowned"]


def check_unowned(
    entries: Mapping[str, StateEntry],
    *,
    wanted: DesiredJob,
    job_id: str,
    desired: Mapping[str, DesiredJob] | None = None,
) -> None:
    """Refuse a job state holds as a clone, or that state or a spec names as a source."""
    for address, entry in sorted(entries.items()):
        if job_id == entry.clone_id or job_id in entry.superseded:
            raise UsageError(
                f"job {job_id} is already the clone of {address} in state",
                hint=f"`jobspec state mv {address} {wanted.address}` moves it with its address; "
                f"or `jobspec state rm {address}` first",
            )
    sources = {entry.source_id: address for address, entry in entries.items()}
    sources.update({other.spec.source: a for a, other in (desired or {}).items()})
    if job_id in sources:
        raise UsageError(
            f"job {job_id} is the source of {sources[job_id]}, not a clone of {wanted.address}",
            hint="import the clone's id; the source is what the spec clones",
        )


def adopted_entry(
    found: Mapping[str, LiveJob], *, wanted: DesiredJob, job_id: str, force: bool
) -> StateEntry:
    """The state entry adopting `job_id` (read in `found`, with the spec's source if live).

    Refused, unless `force`, for a job that cannot have been cloned from the source.
    """
    job = found.get(job_id)
    if job is None:
        raise UsageError(f"job {job_id} does not exist on the server")
    mismatches = _not_a_clone_of(job, found.get(wanted.spec.source), wanted)
    if mismatches and not force:
        raise UsageError(
            f"job {job_id} does not look like a clone of {wanted.address}'s source "
            f"{wanted.spec.source}: {'; '.join(mismatches)}",
            hint="check the job id; if it is the right job all the same, `--force` adopts it "
            "and every plan will say so",
        )
    source = found.get(wanted.spec.source)
    applied = _as_applied(job, wanted)
    entry = StateEntry(
        source_id=wanted.spec.source,
        clone_id=job.id,
        original=wanted.spec.original,
        applied=applied,
        applied_digest=digest(applied),
        original_retired=observed_retirement(wanted.spec.original, source),
        source_digest=source.transfer_digest() if source is not None else None,
        forced_import=bool(mismatches),
    )
    return entry


def _as_applied(job: LiveJob, wanted: DesiredJob) -> dict[str, Any]:
    """The managed fields as the live job has them: what an apply would have recorded.

    An entry imported with nothing applied blamed every later difference on the spec, so
    `drift` told a server edit for a spec change; from the job itself, a difference the plan
    finds at import is the spec's (it wants other values), and one made later the server's.
    """
    pairs = [
        (path, diff.lookup(job.raw, path)) for path, _ in diff.leaves(wanted.spec.managed_body())
    ]
    return diff.nest([(path, value) for path, value in pairs if not diff.is_missing(value)])


_ENDPOINTS = (
    ("transfer", "source", "connection", "id"),
    ("transfer", "source", "target", "path"),
    ("transfer", "destination", "connection", "id"),
    ("transfer", "destination", "target", "path"),
)


def _not_a_clone_of(job: LiveJob, source: LiveJob | None, wanted: DesiredJob) -> list[str]:
    """Why `job` cannot have been cloned from the spec's source: kind, unchanged endpoints."""
    if source is None:  # deleted (original: delete): the name is what is left to compare
        name = wanted.spec.overrides.name
        if (name is not None and name_key(job.name) == name_key(name)) or (
            name is None and job.name.endswith(f" ({wanted.address})")
        ):
            return []
        expected = repr(name) if name is not None else f"'<source name> ({wanted.address})'"
        return [
            f"its source {wanted.spec.source} is gone, and its name {job.name!r} is not the "
            f"spec's clone name {expected}"
        ]
    found = []
    if job.kind != source.kind:
        found.append(f"kind {job.kind!r}, the source's is {source.kind!r}")
    managed = wanted.spec.managed_body()
    placed_job, placed_source = with_folders(job.raw), with_folders(source.raw)  # chains as paths
    for path in _ENDPOINTS:
        if not diff.is_missing(diff.lookup(managed, path[:-1])):
            continue  # the spec changes this part (a connection by id or by name, a target)
        mine, theirs = diff.lookup(placed_job, path), diff.lookup(placed_source, path)
        if mine != theirs:
            found.append(f"{diff.dotted(path)} is {_shown(mine)}, the source's is {_shown(theirs)}")
    return found


def _shown(value: object) -> str:
    return "missing" if diff.is_missing(value) else repr(value)
