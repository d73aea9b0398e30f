"""Recovery: settling what an interrupted run left open, and finding a clone whose reply was lost.

Split from the applier, which calls it for a lost clone reply; `recover` runs before a plan.
A clone intent is looked for by name (the name search, falling back to the listing) and
adopted only when exactly one new job answers; nothing here sends a mutating call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from jobspec.api import Api
from jobspec.errors import ApiError, JobspecError
from jobspec.firstrun import (
    started_entry,
    started_since,
)
from jobspec.model import (
    CutoverPhase,
    CutoverRecord,
    LiveJob,
    RetireHow,
    StateEntry,
    digest,
)
from jobspec.naming import name_key
from jobspec.state import Intent, StateSession

CLOCK_MARGIN_SECONDS = 2
"""Server timestamps have one-second resolution, and a cluster's nodes may differ a little."""


def clone_entry(intent: Intent, clone_id: str, *, previous: StateEntry | None) -> StateEntry:
    """The state entry for a clone made under `intent`: the one place such an entry is built.

    A replaced clone joins `superseded` until it is retired; how the original was retired
    carries over while the source stays the same.
    """
    details = intent.details
    superseded = list(previous.superseded) if previous else []
    replaces = details.get("replaces")
    if isinstance(replaces, str) and replaces != clone_id and replaces not in superseded:
        superseded.append(replaces)
    source_id = str(details["source_id"])
    carried = (
        previous.original_retired
        if previous is not None and previous.source_id == source_id
        else None
    )
    already = details.get("original_already")
    applied = details.get("applied") or {}
    return StateEntry(
        source_id=source_id,
        clone_id=clone_id,
        original=details["original"],
        applied=applied,
        applied_digest=digest(applied),
        original_retired=carried or (RetireHow(already) if already else None),
        source_digest=details.get("source_digest"),
        superseded=superseded,
        retired_clones=list(previous.retired_clones) if previous else [],
        cutover=CutoverRecord(phase=CutoverPhase.cloned) if details.get("cutover") else None,
    )


async def look_for_clone(
    intent: Intent,
    *,
    api: Api,
    journal: StateSession,
    settle: float,
    also_known: set[str] | None = None,
) -> LiveJob | None:
    """Find the clone an intent made; "not found" counts only once `settle` seconds passed.

    A request the server is still working on (ours timed out, or our process died) can still
    commit after we look; waiting until the call is `settle` seconds old, by the server's
    clock where known, closes that window before "not found" is taken as proof.
    `also_known`: jobs that are not it either (the specs' sources, jobs seen before the call).
    """
    extra = also_known or set()
    found = await find_clone(intent, api=api, known=_known_ids(journal) | extra)
    if found is not None:
        return found
    age = _intent_age(intent, api)
    if age < settle:
        # Clamped: a far-future `Date` (the intent's clock) or a far-past one (now) makes the
        # age absurd, and the wait holds the lock; it never exceeds `settle` itself.
        await asyncio.sleep(settle_wait(age=age, settle=settle))
        found = await find_clone(intent, api=api, known=_known_ids(journal) | extra)
    return found


def settle_wait(*, age: float, settle: float) -> float:
    """How long to wait before "not found" is proof: what is left of `settle`, in 0..settle."""
    return min(settle, max(0.0, settle - age))


def _intent_age(intent: Intent, api: Api) -> float:
    not_before = intent.details.get("not_before")
    if isinstance(not_before, int | float) and api.server_time is not None:
        return api.server_time - not_before
    return time.time() - intent.started_at


def _known_ids(journal: StateSession) -> set[str]:
    known: set[str] = set()
    for entry in journal.entries.values():
        known.add(entry.clone_id)
        known.add(entry.source_id)
        known.update(entry.superseded)
        known.update(entry.retired_clones)
    return known


async def find_clone(intent: Intent, *, api: Api, known: set[str]) -> LiveJob | None:
    """The job a clone intent made, if it exists; raises when more than one could be it."""
    name = intent.details.get("name")
    if not isinstance(name, str):
        return None
    not_before = intent.details.get("not_before")
    now = api.server_time
    if isinstance(not_before, int | float) and now is not None and not_before > now:
        # The intent is dated ahead of the server's clock now: a far-future `Date` set it.
        # Bounding by it would hide the real clone; the name rule alone decides, as without
        # a `Date` (sound for the same reason: see the module docstring).
        not_before = None
    try:
        searched = await api.list_jobs(q=name)
    except ApiError:
        # Some servers refuse some names in `q` (a 500 for `<` on ASP.NET, a 414 for a long
        # one): the whole listing below, bounded by the client's listing deadline, decides.
        searched = []
    candidates = _candidates(searched, intent, name, known, not_before)
    if not candidates:
        # How the server's `q` matches names is not documented (punctuation, case, …), and a
        # miss here would mean cloning again: confirm with the whole list before concluding.
        candidates = _candidates(await api.list_jobs(), intent, name, known, not_before)
    if len(candidates) > 1:
        ids = ", ".join(sorted(job.id for job in candidates))
        raise ApiError(
            f"{len(candidates)} jobs named {name!r} could be the clone of {intent.address}: {ids}",
            call=f"GET v1/jobs?q={name}",
            hint=f"delete the extra ones, or adopt one with `jobspec import {intent.address} ID`",
        )
    return candidates[0] if candidates else None


def _candidates(
    jobs: list[LiveJob], intent: Intent, name: str, known: set[str], not_before: Any
) -> list[LiveJob]:
    """Jobs that may be the intent's clone: its exact name, new since the call, not known."""
    candidates = []
    key = name_key(name)
    for job in jobs:
        if name_key(job.name) != key or job.id in known or job.id == intent.details.get("target"):
            continue
        created = job.raw.get("created_on")
        if (
            isinstance(not_before, int | float)
            and isinstance(created, int | float)
            and created < not_before - CLOCK_MARGIN_SECONDS
        ):
            continue
        candidates.append(job)
    return candidates


async def recover(
    journal: StateSession,
    *,
    api: Api,
    settle: float,
    sources: set[str] | None = None,
    unsettled: dict[str, str] | None = None,
) -> list[str]:
    """Settle the intents an earlier run left open; returns what was done, for the log.

    A clone intent is looked for and adopted when found. Other intents (patch, retire) are
    idempotent: they are closed, and the plan made after recovery redoes them if needed.
    `sources`: the jobs the spec files name as sources, never taken for a clone. A clone
    intent that cannot be settled (several candidates, the server failing) stays pending and
    goes into `unsettled` (address → why): that address waits, the others go on.
    """
    notes = []
    for intent in journal.pending_intents():
        if intent.op == "start":
            notes.append(await _settle_start(journal, intent, api=api))
            continue
        if intent.op != "clone":
            journal.abandon(intent, "unfinished at the last stop; the new plan redoes it if needed")
            continue
        try:
            found = await look_for_clone(
                intent, api=api, journal=journal, settle=settle, also_known=sources
            )
        except JobspecError as exc:
            if unsettled is None:
                raise
            unsettled[intent.address] = exc.message
            notes.append(f"{intent.address}: an interrupted clone cannot be settled: {exc.message}")
            continue
        if found is None:
            journal.abandon(intent, "no clone was made")
            notes.append(f"{intent.address}: an interrupted clone was not made; it will be made")
            continue
        _adopt(journal, intent, found)
        notes.append(f"{intent.address}: adopted clone {found.id} from an interrupted run")
    return notes


async def _settle_start(journal: StateSession, intent: Intent, *, api: Api) -> str:
    """A start whose outcome is unknown: a run since the call means it started; never again."""
    entry = journal.entries.get(intent.address)
    run = await started_since(intent, api=api)
    if run is None or entry is None:
        journal.abandon(intent, "no run was started")
        return f"{intent.address}: an interrupted start made no run; it will be started"
    journal.complete(intent, put=started_entry(entry))
    return f"{intent.address}: the clone's first run started in an interrupted run ({run.status})"


def _adopt(journal: StateSession, intent: Intent, clone: LiveJob) -> None:
    """Record a found clone as the address's clone, as if its reply had come back."""
    entry = clone_entry(intent, clone.id, previous=journal.entries.get(intent.address))
    journal.complete(intent, put=entry)
