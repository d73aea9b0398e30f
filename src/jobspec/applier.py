"""apply(plan) → result: runs a plan's steps, journals every call, saves after every step.

Within an address the steps run in the plan's order (clone → verify → patch → retire), so an
original is never touched before its clone exists and is recorded. Under `cutover: verified`
the plan puts hold → start → await_run before the retires (`firstrun.py` runs them): an
await that finds the run still going ends the address without error (`ApplyResult.waiting`),
one that finds it failed ends it with `CutoverFailed`, so the retires after it never run.
Addresses run concurrently up to the concurrency bound.

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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from jobspec import diff
from jobspec.api import Api
from jobspec.errors import ApiError, GateRefused, JobspecError, OutcomeUnknown
from jobspec.firstrun import (
    RunWait,
    StillRunning,
    await_run,
    hold_original,
    restore_original,
    start_run,
)
from jobspec.gate import Ground, not_new, refusal
from jobspec.idle import IdleWait, wait_until_idle
from jobspec.model import (
    CutoverPhase,
    LiveJob,
    OriginalPolicy,
    RetireHow,
    ScheduleMode,
    StateEntry,
    digest,
)
from jobspec.plan import Action, ActionKind, Plan, Step, StepOp, retire_tally
from jobspec.quiet import QuietApi
from jobspec.recovery import (  # re-exported: their old home
    clone_entry as clone_entry,
    find_clone as find_clone,
    look_for_clone as look_for_clone,
    recover as recover,
    settle_wait as settle_wait,
)
from jobspec.state import GroupCommit, Intent, StateSession

Report = Callable[[str, str], None]
"""(address, message) progress callback; the CLI decides how to show it."""

StepHook = Callable[[str, Step, str, str | None], None]
"""(address, step, status, detail) for machine-readable progress (`apply --json`): status is
`started`, `finished` (detail: the job the step acted on, e.g. the new clone) or `failed`
(detail: the error message)."""


@dataclass
class ApplyResult:
    """What an apply did: actions done per kind, failed, then the jobs it retired, counted
    from the retire steps that finished (the plan's `tally`, done), so `retired` is always
    `deleted` + `set_manual`, whichever action retired them."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            [
                "created",
                "updated",
                "replaced",
                "retire_only",
                "pruned",
                "unchanged",
                "failed",
                "retired",
                "deleted",
                "set_manual",
            ],
            0,
        )
    )
    failures: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)
    """Verified cutovers whose clone's first run has not ended: (address, what it waits for)."""

    def count_retired(self, step: Step) -> None:
        """One finished step: counted when it retired a job (as `retire_tally` counts)."""
        for key, number in retire_tally([step]).items():
            self.counts[_DONE_RETIRE[key]] += number

    @property
    def ok(self) -> bool:
        return not self.failures


_DONE_WORD = {
    ActionKind.create: "created",
    ActionKind.update: "updated",
    ActionKind.replace: "replaced",
    ActionKind.retire: "retire_only",
    ActionKind.prune: "pruned",
    ActionKind.noop: "unchanged",
    ActionKind.orphan: "unchanged",
}
_DONE_RETIRE = {"retire": "retired", "delete": "deleted", "set_manual": "set_manual"}


async def apply_plan(
    plan: Plan,
    *,
    api: Api,
    journal: StateSession,
    concurrency: int,
    settle: float,
    ground: Ground,
    report: Report | None = None,
    on_done: Callable[[str, bool], None] | None = None,
    idle: IdleWait | None = None,
    on_step: StepHook | None = None,
    runs: RunWait | None = None,
) -> ApplyResult:
    """Run every action; a failing address stops alone and is listed, the others go on.

    Every clone, PATCH and DELETE first passes the gate (`gate.refusal`) on `ground` (the
    spec files now, the jobs this run saw) and the state as it stands at that step.

    `report` hears each step as it completes; `on_done(address, ok)` each finished action;
    `on_step` each step as it starts, finishes or fails.
    `idle` says which deletes wait for their job to stop running (default: those whose spec
    asked, `wait_for_idle`), and for how long; `runs` how long a verified cutover waits for
    its clone's first run (default: it looks once, and a later apply finishes it).
    """
    waits = idle or IdleWait()
    result = ApplyResult()
    # `--wait` bounds the whole apply, not each address: cutovers the pair slots admit late
    # share one deadline instead of each waiting the full time again.
    deadline_runs = (runs or RunWait(hold_timeout=waits.timeout)).started()
    api = QuietApi(api)
    # Twice as many addresses as requests in flight (the client bounds those): while one
    # address waits for the journal or between its steps, another has a request ready, so the
    # request slots stay full. Workers, not a task per address waiting its turn: 10,000
    # waiting tasks held 16 MB.
    workers = 2 * concurrency
    # An address that clones and then retires its original holds one of `concurrency` pair
    # slots from its clone until that retire: an interruption leaves at most `concurrency`
    # clone/original pairs both in place, each original retired as soon as its own clone
    # is verified.
    pairs = asyncio.Semaphore(concurrency)
    say = report or (lambda address, message: None)
    done = on_done or (lambda address, ok: None)
    heard = on_step or (lambda address, step, status, detail: None)

    def hook(address: str, step: Step, status: str, detail: str | None) -> None:
        if status == "finished":
            result.count_retired(step)
        heard(address, step, status, detail)

    async def run(action: Action) -> None:
        async with pairs if _opens_pair(action) else nullcontext():
            try:
                await _run_action(
                    action,
                    api=api,
                    journal=journal,
                    say=say,
                    settle=settle,
                    idle=waits,
                    hook=hook,
                    runs=deadline_runs,
                    ground=ground,
                )
            except StillRunning as waiting:
                result.waiting.append((action.address, str(waiting)))
                say(action.address, f"{waiting}; the next apply finishes the cutover")
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

    queue = iter(plan.actions)  # shared: each worker takes the next address, in order

    async def worker() -> None:
        for action in queue:
            await run(action)

    # Group commit: the tasks' journal records share fdatasyncs, run off the event loop.
    with journal.deferred_sync() if isinstance(journal, GroupCommit) else nullcontext():
        # A TaskGroup, not gather: if a bug raises, the other addresses are cancelled before
        # the lock is released, instead of running on unlocked.
        async with asyncio.TaskGroup() as tasks:
            for _ in range(min(workers, len(plan.actions))):
                tasks.create_task(worker())
    result.failures.sort()
    result.waiting.sort()
    return result


def _opens_pair(action: Action) -> bool:
    """Does the action make a clone and then retire its original (a pair until then)?"""
    ops = {(step.op, step.role) for step in action.steps}
    return (StepOp.clone, "source") in ops and (StepOp.retire, "original") in ops


async def _run_action(
    action: Action,
    *,
    api: Api,
    journal: StateSession,
    say: Report,
    settle: float,
    idle: IdleWait,
    hook: StepHook,
    runs: RunWait,
    ground: Ground,
) -> None:
    if not action.steps:
        return
    entry = journal.entries.get(action.address)
    for step in action.steps:
        hook(action.address, step, "started", None)
        try:
            now = journal.entries.get(action.address)
            _gate(action.address, step, ground=ground, entry=now)
            if idle.applies_to(step):  # a delete that must not cut a running transfer short
                kept = entry.clone_id if entry else None
                await wait_until_idle(
                    api, step, wait=idle, say=lambda text: say(action.address, text), kept=kept
                )
            if step.op in _CUTOVER_OPS:
                assert entry is not None
                entry = await _cutover_step(
                    action.address,
                    step,
                    entry,
                    api=api,
                    journal=journal,
                    say=say,
                    runs=runs,
                    ground=ground,
                )
            else:
                entry = await _run_step(
                    action,
                    step,
                    entry,
                    api=api,
                    journal=journal,
                    say=say,
                    settle=settle,
                    ground=ground,
                )
        except StillRunning as waiting:
            hook(action.address, step, "waiting", str(waiting))
            raise
        except JobspecError as exc:
            hook(action.address, step, "failed", exc.message)
            raise
        made = step.op in (StepOp.clone, StepOp.verify) and entry is not None
        hook(action.address, step, "finished", entry.clone_id if made and entry else step.job_id)
    if entry is not None and entry.cutover and entry.cutover.phase is CutoverPhase.verified:
        done = entry.cutover.model_copy(update={"phase": CutoverPhase.retired})
        journal.put(action.address, entry.model_copy(update={"cutover": done}))
        await _saved(journal)
        say(action.address, "cutover done: the clone ran well and the original is retired")


_CUTOVER_OPS = frozenset({StepOp.hold, StepOp.start, StepOp.await_run, StepOp.restore})


def _gate(address: str, step: Step, *, ground: Ground, entry: StateEntry | None) -> None:
    """The one gate (`gate.refusal`) in front of a mutating call: GateRefused, nothing sent."""
    why = refusal(address=address, step=step, ground=ground, entry=entry)
    if why is not None:
        raise GateRefused(
            f"not sent: {step.op.value} of job {step.job_id} ({step.role}): {why}",
            hint="nothing was sent for this step; check the spec files and "
            "`jobspec state show`, then plan again",
        )


async def _cutover_step(
    address: str,
    step: Step,
    entry: StateEntry,
    *,
    api: Api,
    journal: StateSession,
    say: Report,
    runs: RunWait,
    ground: Ground,
) -> StateEntry:
    """A verified cutover's step (`jobspec.firstrun`); a failed run's restore of the original
    passes the gate too, as the PATCH it is."""

    def tell(text: str) -> None:
        say(address, text)

    if step.op is StepOp.hold:
        return await hold_original(
            address, step, entry, api=api, journal=journal, wait=runs, say=tell
        )
    if step.op is StepOp.start:
        return await start_run(address, step, entry, api=api, journal=journal, say=tell)
    if step.op is StepOp.await_run:
        return await await_run(
            address,
            step,
            entry,
            api=api,
            journal=journal,
            wait=runs,
            say=tell,
            gate=lambda restore: _gate(
                address, restore, ground=ground, entry=journal.entries.get(address)
            ),
        )
    assert step.op is StepOp.restore and step.job_id is not None and step.body is not None
    schedule = step.body.get("schedule")
    assert isinstance(schedule, dict)
    return await restore_original(
        address, entry, job_id=step.job_id, schedule=schedule, api=api, journal=journal, say=tell
    )


async def _run_step(
    action: Action,
    step: Step,
    entry: StateEntry | None,
    *,
    api: Api,
    journal: StateSession,
    say: Report,
    settle: float,
    ground: Ground,
) -> StateEntry | None:
    """Run one step and return the address's entry as it now stands in state."""
    address = action.address
    if step.op is StepOp.clone:
        assert step.job_id is not None and step.body is not None
        clone, intent = await _clone(
            action, step.job_id, step.body, api=api, journal=journal, settle=settle, ground=ground
        )
        new_entry = clone_entry(intent, clone.id, previous=entry)
        ground.made.add(clone.id)
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

    if step.op is StepOp.move:  # `moved_from:`: one journal record, no call
        old = str((step.body or {}).get("from"))
        journal.move(old, address)
        await _saved(journal)
        say(address, f"moved from {old}")
        return journal.entries.get(address)

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
    ground: Ground,
) -> tuple[LiveJob, Intent]:
    """Clone once: journal the intent, call, and on a lost reply look before anything else.

    Returns the clone and its still-pending intent: the caller closes the intent in the same
    journal record that stores the clone id. A reply naming a job that is not new (the gate's
    `not_new`) is treated as a lost reply: nothing is recorded on its word.
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
    call = f"POST v1/jobs/{base_id}/clone"
    try:
        clone: LiveJob | None = await api.clone(base_id, body)
    except OutcomeUnknown as lost:
        clone, lost_why = None, "the clone call's reply was lost"
        call = lost.call
    except JobspecError as exc:  # the server refused it: nothing was made
        journal.abandon(intent, f"failed: {exc.message}")
        await _saved(journal)
        raise
    else:
        assert clone is not None
        why = not_new(clone_id=clone.id, base_id=base_id, ground=ground)
        if why is not None:
            clone, lost_why = None, f"the clone call's reply named a job that is not new ({why})"
    if clone is None:
        clone = await look_for_clone(
            intent, api=api, journal=journal, settle=settle, also_known=_sure(ground)
        )
        if clone is None:
            # Left pending on purpose: the next apply looks again before cloning.
            raise ApiError(
                f"{lost_why} and no clone has appeared; nothing was adopted",
                call=call,
                hint="run apply again: it looks for the clone once more before cloning",
            )
    return clone, intent


def _sure(ground: Ground) -> set[str]:
    """Jobs that cannot be a clone this run makes: those it saw before, and the specs' sources."""
    return set(ground.seen) | set((ground.sources or {}).values()) | ground.made


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
        "cutover": any(step.op is StepOp.start for step in action.steps),
    }
