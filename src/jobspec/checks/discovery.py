"""`jobspec import --discover`: which live job is which spec's clone, by its clone name. Pure.

After a lost state (or a restore older than the last apply), the clones are still on the
server and bear the names their specs give them: each spec that state does not know is
matched with the one live job bearing its clone name, and that job is then checked as
`jobspec import` checks it (`checks.adoption`). Nothing is guessed: no job, or two, for a
name is left with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jobspec.model import DesiredJob, LiveJob, StateEntry
from jobspec.naming import default_clone_name, name_key

__all__ = ["Match", "clone_name_of", "match_clones"]


@dataclass(frozen=True)
class Match:
    """What discovery found for one address: the job to adopt, or why there is none."""

    address: str
    job: LiveJob | None
    reason: str | None = None


def clone_name_of(wanted: DesiredJob, live: Mapping[str, LiveJob]) -> str | None:
    """The clone name the spec gives (its own, or its source's name with the address); None
    when it names none and its source is gone (then only ` (ADDRESS)` at the end is known)."""
    name = wanted.spec.overrides.name
    if name is not None:
        return name
    source = live.get(wanted.spec.source)
    if source is None:
        return None
    return default_clone_name(base_name=source.name, address=wanted.address)


def match_clones(
    *,
    desired: Mapping[str, DesiredJob],
    entries: Mapping[str, StateEntry],
    jobs: Sequence[LiveJob],
) -> list[Match]:
    """For every spec state does not know, in address order: the one live job bearing its
    clone name (state and the specs name it nowhere else), or the reason there is none."""
    live = {job.id: job for job in jobs}
    known = {wanted.spec.source for wanted in desired.values()}
    for entry in entries.values():
        known.update((entry.source_id, entry.clone_id, *entry.superseded, *entry.retired_clones))
    by_name: dict[str, list[LiveJob]] = {}
    for job in jobs:
        if job.id not in known:
            by_name.setdefault(name_key(job.name), []).append(job)
    found: list[Match] = []
    for address, wanted in sorted(desired.items()):
        if address in entries:
            continue
        name = clone_name_of(wanted, live)
        if name is not None:
            candidates = by_name.get(name_key(name), [])
            shown = repr(name)
        else:
            suffix = name_key(f" ({address})")
            candidates = [
                job for key, group in by_name.items() if key.endswith(suffix) for job in group
            ]
            shown = f"'… ({address})' (its source is gone)"
        if not candidates:
            found.append(Match(address, None, f"no job is named {shown}: plan will clone it"))
        elif len(candidates) > 1:
            ids = ", ".join(sorted(job.id for job in candidates))
            found.append(
                Match(
                    address,
                    None,
                    f"{len(candidates)} jobs are named {shown} ({ids}): adopt the right one "
                    f"with `jobspec import {address} ID`",
                )
            )
        else:
            found.append(Match(address, candidates[0]))
    return found
