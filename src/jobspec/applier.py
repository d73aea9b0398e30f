"""apply(plan) → result: runs a plan's steps, journals every call, saves after every step.

Within an address the steps run in the plan's order (clone → verify → patch → retire), so an
original is never touched before its clone exists and is recorded. Addresses run concurrently
up to the concurrency bound.

Crash safety rests on three rules:
1. An intent is journaled (and fsynced) before every mutating call, and closed after it.
2. The clone id is recorded the moment the clone call returns, before anything else happens.
3. A clone whose outcome is unknown (killed process, lost response) is looked for before it is
   ever sent again: `recover` runs first on every apply, and a lost reply in this run is
   searched for at once (a lost reply whose clone never appears leaves the intent pending
   for the next run, and "not found" counts only once the call is `settle` seconds old).
   A clone is recognised by its exact name (jobspec always sends one),
   created no earlier than the server's own clock said just before the call (the `Date` header
   of the previous response, so client clock skew does not matter), and not already known to
   state. One match is adopted; none means it provably was not made; several is an error that
   asks a human, because guessing could retire the wrong job.

While a run's addresses go on cloning and retiring, the whole-list search would meet a list
that this very run keeps changing, and a listing that changes while it is read is refused
(`the job list kept changing`): a large apply could then fail an address it had in fact
made. So within `apply_plan` a whole-list search has the server to itself (`_Quiet`): new
mutating calls wait while it reads, and it starts once those in flight have answered (a name
search as well: this run's clones may bear names containing the one sought).

Without a `Date` header (a proxy that strips it) there is no server clock, and the name rule
stands alone: the intent records no `not_before`, and every job with the exact name that
state does not know is a candidate. That is sound because clone names are identities: the
plan refused to clone while any such job existed, so one found now appeared after the plan.
A bound from this machine's clock was rejected: compared with the server's `created_on`, a
client clock running ahead by more than its margin would hide the real clone, and the next
run would clone again, the one outcome worse than stopping to ask.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from jobspec import diff
from jobspec.api import Api
from jobspec.errors import ApiError, JobspecError, OutcomeUnknown
from jobspec.idle import IdleWait, wait_until_idle
from jobspec.model import LiveJob, OriginalPolicy, RetireHow, ScheduleMode, StateEntry, digest
from jobspec.plan import Action, ActionKind, Plan, Step, StepOp
from jobspec.state import GroupCommit, Intent, StateSession

CLOCK_MARGIN_SECONDS = 2
"""Server timestamps have one-second resolution, and a cluster's nodes may differ a little."""


Report = Callable[[str, str], None]
"""(address, message) progress callback; the CLI decides how to show it."""

StepHook = Callable[[str, Step, str, str | None], None]
"""(address, step, status, detail) for machine-readable progress (`apply --json`): status is
`started`, `finished` (detail: the job the step acted on, e.g. the new clone) or `failed`
(detail: the error message)."""


@dataclass
class ApplyResult:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ["created", "updated", "replaced", "retired", "pruned", "unchanged", "failed"], 0
        )
    )
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


_DONE_WORD = {
    ActionKind.create: "created",
    ActionKind.update: "updated",
    ActionKind.replace: "replaced",
    ActionKind.retire: "retired",
    ActionKind.prune: "pruned",
    ActionKind.noop: "unchanged",
    ActionKind.orphan: "unchanged",
}


async def apply_plan(
    plan: Plan,
    *,
    api: Api,
    journal: StateSession,
    concurrency: int,
    settle: float,
    report: Report | None = None,
    on_done: Callable[[str, bool], None] | None = None,
    idle: IdleWait | None = None,
    on_step: StepHook | None = None,
) -> ApplyResult:
    """Run every action; a failing address stops alone and is listed, the others go on.

    `report` hears each step as it completes; `on_done(address, ok)` each finished action;
    `on_step` each step as it starts, finishes or fails.
    `idle` says which deletes wait for their job to stop running (default: those whose spec
    asked, `wait_for_idle`), and for how long.
    """
    waits = idle or IdleWait()
    result = ApplyResult()
    api = _QuietApi(api)
    # Twice as many addresses as requests in flight (the client bounds those): while one
    # address waits for the journal or between its steps, another has a request ready, so the
    # request slots stay full.
    gate = asyncio.Semaphore(2 * concurrency)
    say = report or (lambda address, message: None)
    done = on_done or (lambda address, ok: None)
    hook = on_step or (lambda address, step, status, detail: None)

    async def run(action: Action) -> None:
        async with gate:
            try:
                await _run_action(
                    action, api=api, journal=journal, say=say, settle=settle, idle=waits, hook=hook
                )
            except JobspecError as exc:
                result.counts["failed"] += 1
                result.failures.append((action.address, exc.message))
                say(action.address, f"failed: {exc.message}")
                done(action.address, False)
                return
        result.counts[_DONE_WORD[action.kind]] += 1
        if action.steps:
            say(action.address, _DONE_WORD[action.kind])
        done(action.address, True)

    # Group commit: the tasks' journal records share fdatasyncs, run off the event loop.
    with journal.deferred_sync() if isinstance(journal, GroupCommit) else nullcontext():
        # A TaskGroup, not gather: if a bug raises, the other addresses are cancelled before
        # the lock is released, instead of running on unlocked.
        async with asyncio.TaskGroup() as tasks:
            for action in plan.actions:
                tasks.create_task(run(action))
    result.failures.sort()
    return result


async def _run_action(
    action: Action,
    *,
    api: Api,
    journal: StateSession,
    say: Report,
    settle: float,
    idle: IdleWait,
    hook: StepHook,
) -> None:
    if not action.steps:
        return
    entry = journal.entries.get(action.address)
    for step in action.steps:
        hook(action.address, step, "started", None)
        try:
            if idle.applies_to(step):  # a delete that must not cut a running transfer short
                kept = entry.clone_id if entry else None
                await wait_until_idle(
                    api, step, wait=idle, say=lambda text: say(action.address, text), kept=kept
                )
            entry = await _run_step(
                action, step, entry, api=api, journal=journal, say=say, settle=settle
            )
        except JobspecError as exc:
            hook(action.address, step, "failed", exc.message)
            raise
        made = step.op in (StepOp.clone, StepOp.verify) and entry is not None
        hook(action.address, step, "finished", entry.clone_id if made and entry else step.job_id)


async def _run_step(
    action: Action,
    step: Step,
    entry: StateEntry | None,
    *,
    api: Api,
    journal: StateSession,
    say: Report,
    settle: float,
) -> StateEntry | None:
    """Run one step and return the address's entry as it now stands in state."""
    address = action.address
    if step.op is StepOp.clone:
        assert step.job_id is not None and step.body is not None
        clone, intent = await _clone(
            action, step.job_id, step.body, api=api, journal=journal, settle=settle
        )
        new_entry = clone_entry(intent, clone.id, previous=entry)
        # One record closes the intent and stores the clone id: a death between the two
        # would leave a made clone that neither state nor a pending intent knows of.
        journal.complete(intent, put=new_entry)
        await _saved(journal)
        say(address, f"cloned {step.job_id} → {clone.id}")
        return new_entry

    if step.op is StepOp.verify:
        assert entry is not None
        live = await api.get_job(entry.clone_id)
        if live is None:
            raise ApiError(
                "the new clone is not there on read-back", call=f"GET v1/jobs/{entry.clone_id}"
            )
        wrong = diff.differing_leaves(action.applied, live.raw)
        if wrong:
            fields = ", ".join(diff.dotted(path) for path, _, _ in wrong)
            raise ApiError(
                f"the server did not keep these fields on the clone: {fields}",
                call=f"GET v1/jobs/{entry.clone_id}",
                hint="the next plan will show them as an update",
            )
        say(address, f"verified {entry.clone_id}")
        return entry

    if step.op is StepOp.patch:
        assert entry is not None and step.job_id is not None and step.body is not None
        intent = journal.record_intent(address, "patch", target=step.job_id)
        await _saved(journal)
        async with _closed_on_failure(journal, intent):
            await api.patch(step.job_id, step.body)
        new_entry = entry.model_copy(
            update={"applied": action.applied, "applied_digest": digest(action.applied)}
        )
        journal.complete(intent, put=new_entry)
        await _saved(journal)
        say(address, f"patched {step.job_id}")
        return new_entry

    if step.op is StepOp.retire:
        assert step.job_id is not None and step.how is not None
        intent = journal.record_intent(
            address, f"retire_{step.how.value}", target=step.job_id, role=step.role
        )
        await _saved(journal)
        async with _closed_on_failure(journal, intent):
            if step.how is RetireHow.deleted:
                await api.delete(step.job_id)
            else:
                manual = {"schedule": {"mode": ScheduleMode.manual.value}}
                await api.patch(step.job_id, step.body or manual)
        retired = _after_retire(entry, step)
        journal.complete(intent, put=retired)
        await _saved(journal)
        say(address, f"retired {step.role.replace('_', ' ')} {step.job_id} ({step.how.value})")
        return retired

    if step.op is StepOp.record:  # no call: what the plan saw goes into state
        assert step.job_id is not None
        if step.role == "source":  # --accept-source-drift
            recorded = entry and entry.model_copy(update={"source_digest": action.source_digest})
            what = f"accepted source {step.job_id} as it is now"
        else:  # a retire the server shows done
            assert step.how is not None
            recorded = _after_retire(entry, step)
            what = f"recorded {step.role.replace('_', ' ')} {step.job_id} as {step.how.value}"
        if recorded is not None and recorded != entry:
            journal.put(address, recorded)
            await _saved(journal)
        say(address, what)
        return recorded

    assert step.op is StepOp.forget
    intent = journal.record_intent(address, "forget")
    journal.complete(intent, remove=True)
    await _saved(journal)
    say(address, "forgotten")
    return None


@asynccontextmanager
async def _closed_on_failure(journal: StateSession, intent: Intent) -> AsyncIterator[None]:
    """Abandon the intent of an idempotent call that failed: the next plan redoes what is left.

    Left pending, it would make every saved plan stale until an apply without one settled it.
    """
    try:
        yield
    except JobspecError as exc:
        journal.abandon(intent, f"failed: {exc.message}")
        await _saved(journal)
        raise


async def _saved(journal: StateSession) -> None:
    """Wait until what was just journaled is on disk; nothing moves on before that.

    A group-commit session shares the wait with the other tasks and syncs off the event loop;
    any other session was durable when its method returned.
    """
    if isinstance(journal, GroupCommit):
        await journal.sync()


def _after_retire(entry: StateEntry | None, step: Step) -> StateEntry | None:
    if entry is None:
        return None
    if step.role == "original":
        return entry.model_copy(update={"original_retired": step.how})
    if step.role == "old_clone":
        left = [job_id for job_id in entry.superseded if job_id != step.job_id]
        kept = list(entry.retired_clones)
        if step.how is RetireHow.manual and step.job_id and step.job_id not in kept:
            kept.append(step.job_id)  # still there, still bearing the clone's name: ours
        return entry.model_copy(update={"superseded": left, "retired_clones": kept})
    return entry


async def _clone(
    action: Action,
    base_id: str,
    body: dict[str, Any],
    *,
    api: Api,
    journal: StateSession,
    settle: float,
) -> tuple[LiveJob, Intent]:
    """Clone once: journal the intent, call, and on a lost reply look before anything else.

    Returns the clone and its still-pending intent: the caller closes the intent in the same
    journal record that stores the clone id.
    """
    intent = journal.record_intent(
        action.address,
        "clone",
        target=base_id,
        name=body["name"],
        not_before=api.server_time,
        **_entry_details(action),
    )
    await _saved(journal)  # the intent is on disk before the call can reach the server
    try:
        clone = await api.clone(base_id, body)
    except OutcomeUnknown as lost:
        found = await look_for_clone(intent, api=api, journal=journal, settle=settle)
        if found is None:
            # Left pending on purpose: the next apply looks again before cloning.
            raise ApiError(
                "the clone call's reply was lost and no clone has appeared; nothing was adopted",
                call=lost.call,
                hint="run apply again: it looks for the clone once more before cloning",
            ) from lost
        clone = found
    except JobspecError as exc:  # the server refused it: nothing was made
        journal.abandon(intent, f"failed: {exc.message}")
        await _saved(journal)
        raise
    return clone, intent


class _Quiet:
    """Mutating calls share the server; a search (a listing) has it to itself.

    Any number of mutations, or any number of searches, at a time: a search waits for the
    mutations in flight to answer, and new mutations wait while a search reads or waits.
    """

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._mutating = 0
        self._searching = 0

    @asynccontextmanager
    async def mutation(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._searching == 0)
            self._mutating += 1
        try:
            yield
        finally:
            async with self._changed:
                self._mutating -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def search(self) -> AsyncIterator[None]:
        async with self._changed:
            self._searching += 1
            try:
                await self._changed.wait_for(lambda: self._mutating == 0)
            except BaseException:
                self._searching -= 1
                self._changed.notify_all()
                raise
        try:
            yield
        finally:
            async with self._changed:
                self._searching -= 1
                self._changed.notify_all()


class _QuietApi:
    """The run's `Api`, with its mutating calls and its listings kept apart (`_Quiet`)."""

    def __init__(self, api: Api) -> None:
        self._api = api
        self._quiet = _Quiet()

    @property
    def server(self) -> str:
        return self._api.server

    @property
    def server_time(self) -> float | None:
        return self._api.server_time

    async def get_job(self, job_id: str) -> LiveJob | None:
        return await self._api.get_job(job_id)

    async def get_jobs(self, ids: Collection[str]) -> dict[str, LiveJob]:
        return await self._api.get_jobs(ids)

    async def list_jobs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        q: str | None = None,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[LiveJob]:
        given: dict[str, Any] = {"kind": kind, "status": status, "q": q, "keep": keep}
        # A name search too: the run's own clones may bear names that contain the one sought.
        async with self._quiet.search():
            return await self._api.list_jobs(**{k: v for k, v in given.items() if v is not None})

    async def clone(self, source_id: str, body: Mapping[str, Any]) -> LiveJob:
        async with self._quiet.mutation():
            return await self._api.clone(source_id, body)

    async def patch(self, job_id: str, body: Mapping[str, Any]) -> LiveJob:
        async with self._quiet.mutation():
            return await self._api.patch(job_id, body)

    async def delete(self, job_id: str) -> bool:
        async with self._quiet.mutation():
            return await self._api.delete(job_id)


def _entry_details(action: Action) -> dict[str, Any]:
    """What the state entry of a new clone needs, journaled with the clone's intent.

    So the entry is built the same way whether the reply came back or the clone was found
    after a crash.
    """
    retires_original = any(
        step.op is StepOp.retire and step.role == "original" for step in action.steps
    )
    already = None
    if not retires_original and action.original is not OriginalPolicy.keep:
        # the original is already as the policy wants it (on manual, or gone)
        already = (
            RetireHow.deleted if action.original is OriginalPolicy.delete else RetireHow.manual
        ).value
    return {
        "source_id": action.source_id,
        "original": action.original.value,
        "applied": action.applied,
        "source_digest": action.source_digest,
        "replaces": action.clone_id if action.kind is ActionKind.replace else None,
        "original_already": already,
    }


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
    )


async def look_for_clone(
    intent: Intent, *, api: Api, journal: StateSession, settle: float
) -> LiveJob | None:
    """Find the clone an intent made; "not found" counts only once `settle` seconds passed.

    A request the server is still working on (ours timed out, or our process died) can still
    commit after we look; waiting until the call is `settle` seconds old, by the server's
    clock where known, closes that window before "not found" is taken as proof.
    """
    found = await find_clone(intent, api=api, known=_known_ids(journal))
    if found is not None:
        return found
    age = _intent_age(intent, api)
    if age < settle:
        await asyncio.sleep(settle - age)
        found = await find_clone(intent, api=api, known=_known_ids(journal))
    return found


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
    candidates = _candidates(await api.list_jobs(q=name), intent, name, known, not_before)
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
    for job in jobs:
        if job.name != name or job.id in known or job.id == intent.details.get("target"):
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


async def recover(journal: StateSession, *, api: Api, settle: float) -> list[str]:
    """Settle the intents an earlier run left open; returns what was done, for the log.

    A clone intent is looked for and adopted when found. Other intents (patch, retire) are
    idempotent: they are closed, and the plan made after recovery redoes them if needed.
    """
    notes = []
    for intent in journal.pending_intents():
        if intent.op != "clone":
            journal.abandon(intent, "unfinished at the last stop; the new plan redoes it if needed")
            continue
        found = await look_for_clone(intent, api=api, journal=journal, settle=settle)
        if found is None:
            journal.abandon(intent, "no clone was made")
            notes.append(f"{intent.address}: an interrupted clone was not made; it will be made")
            continue
        _adopt(journal, intent, found)
        notes.append(f"{intent.address}: adopted clone {found.id} from an interrupted run")
    return notes


def _adopt(journal: StateSession, intent: Intent, clone: LiveJob) -> None:
    """Record a found clone as the address's clone, as if its reply had come back."""
    entry = clone_entry(intent, clone.id, previous=journal.entries.get(intent.address))
    journal.complete(intent, put=entry)
