"""make_plan(desired, prior, live) -> Plan: the reconciliation decisions.

Pure and deterministic: no clock, no I/O, no randomness. Everything it needs is passed in,
so every row of DESIGN.md's plan table is a small table test. The caller fetches the live jobs
named by `needed_job_ids`; a job missing from `live` is taken to not exist. When
`needs_every_job(desired)` says so, or when the plan clones (`clones_anything`), `live` must
hold every live job: the transfer-conflict check (`jobspec.conflicts`) compares each scheduled
clone with all of them, and the name check (`jobspec.naming`) looks for jobs that already
bear a new clone's name.

Its parts beside it, pure as it is: `naming` (clone names as identities, the name check) and
`retirement` (retiring originals and old clones, and what the server shows retired already).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jobspec import diff
from jobspec.conflicts import (
    conflict_view,
    may_be_scheduled,
    placement,
)
from jobspec.connections import connection_names, resolve_connections
from jobspec.cutover import Execution, latest_on_job, with_cutover
from jobspec.endpoints import ServerConnection, with_folders
from jobspec.errors import PlanError
from jobspec.model import (
    ENDPOINT_SIDES,
    Cutover,
    DesiredJob,
    LiveJob,
    OriginalPolicy,
    StateEntry,
    digest,
)
from jobspec.moves import apply_moves, find_moves, moved_action, unmarked_renames
from jobspec.naming import (
    ADOPT_HINT,
    default_clone_name,
    job_names,
    name_clashes,
    replaced_name,
    unknown_namesake,
)
from jobspec.overlaps import clone_after, transfer_conflicts
from jobspec.plan import (
    Action,
    ActionKind,
    FieldChange,
    Plan,
    PlanOptions,
    PlanWarning,
    Step,
    StepOp,
)
from jobspec.retirement import (
    folder_mapping_children,
    observed_retirement,
    old_clone_retirement,
    record_observed,
    retire_original,
    retire_step,
    retire_superseded,
    running_warnings,
    waiting_for_idle,
)

__all__ = [  # observed_retirement and ADOPT_HINT stay importable from here
    "ADOPT_HINT",
    "IDENTITY_FIELDS",
    "clones_anything",
    "listed_view",
    "make_plan",
    "needed_job_ids",
    "needs_every_job",
    "observed_retirement",
    "patch_body",
    "placements_digest",
    "spec_digest",
]


def needed_job_ids(desired: Mapping[str, DesiredJob], prior: Mapping[str, StateEntry]) -> set[str]:
    """Every job the plan looks at: sources of the specs, and sources and clones in state."""
    ids = {job.spec.source for job in desired.values()}
    for entry in prior.values():
        ids.add(entry.source_id)
        ids.add(entry.clone_id)
        ids.update(entry.superseded)
    return ids


IDENTITY_FIELDS = ("id", "name", "kind", "status")
"""What the plan reads of every listed job: the name check and deleted jobs need no more."""


def listed_view(raw: Mapping[str, Any]) -> dict[Any, Any]:
    """What the plan reads of a listed job that `needed_job_ids` does not name: its identity
    and what the conflict check reads (`conflict_view`). Keeping only this keeps a 50,000-job
    listing small; the short, repeated texts (kind, status) are shared, not kept per job."""
    view: dict[Any, Any] = {
        key: sys.intern(value) if key in _SHARED_TEXTS and type(value) is str else value
        for key in IDENTITY_FIELDS
        if (value := raw.get(key, _ABSENT)) is not _ABSENT
    }
    view.update(conflict_view(raw))
    return dict(view)  # a copy is sized to fit: 224 bytes, not the grown dict's 352


_SHARED_TEXTS = frozenset({"kind", "status"})
_ABSENT = object()


def needs_every_job(desired: Mapping[str, DesiredJob]) -> bool:
    """Does the plan need every live job? Yes when a desired clone may run on a schedule.

    Only a scheduled clone can be in a transfer conflict, so when every spec says `schedule:
    {mode: manual}` (or `ad-hoc`, or `disabled: true`) the jobs the specs name are enough.
    """
    return any(may_be_scheduled(job.spec.managed_body()) for job in desired.values())


def make_plan(
    *,
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    live: Mapping[str, LiveJob],
    lineage: str | None,
    serial: int,
    options: PlanOptions | None = None,
    interrupted: Mapping[str, str] | None = None,
    runs: Mapping[str, Mapping[str, Any]] | None = None,
    connections: Sequence[ServerConnection] | None = None,
) -> Plan:
    """Decide one action per address; raise PlanError listing every address that cannot plan.

    `interrupted` maps an address to the name of a clone an interrupted run may have made
    (a pending intent): a live job with that name is what recovery will adopt, not a clash.
    `options` shapes the plan (`PlanOptions`): its `replace` names addresses to clone afresh
    (`apply --replace`), its `accept_source` those whose source changed since their clone was
    made, to record as accepted (no new clone). `runs` maps a clone in a verified cutover
    to its latest execution as read from the server (`GET v1/jobs/history`), for the note.
    `connections` are the server's (None when not read): every connection a planned spec
    names must be one of them, and a name is resolved.
    """
    options = options or PlanOptions()
    prune, replace, accept_source = options.prune, options.replace, options.accept_source
    targets = options.targets or None
    moves, moving_problems = find_moves(desired, prior)  # `moved_from:`: new → old address
    prior = apply_moves(prior, moves)
    addresses = sorted(desired.keys() | prior.keys())
    if targets is not None:
        addresses = [address for address in addresses if address in targets]
    as_written = desired
    resolved, problems = resolve_connections(
        {a: desired[a] for a in addresses if a in desired}, connections
    )
    desired = {**desired, **resolved}
    actions: list[Action] = []
    warnings: list[PlanWarning] = []
    problems += _shared_sources_deleted(desired) + moving_problems
    if not prune:
        problems += unmarked_renames(desired=desired, prior=prior, live=live)
    planned: list[tuple[DesiredJob, Action]] = []
    strays: dict[str, str] = {}  # address → a live job bearing its clone name, unknown to state
    for address in addresses:
        wanted = desired.get(address)
        entry = prior.get(address)
        if wanted is None:
            assert entry is not None
            actions.append(_orphan(address, entry, live, prune=prune))
            continue
        try:
            action = _plan_address(
                wanted,
                entry,
                live,
                replace=address in replace,
                accept_source=address in accept_source,
            )
        except _CannotPlan as exc:
            stray = (
                unknown_namesake(wanted=wanted, desired=desired, prior=prior, live=live)
                if entry is None
                else None
            )
            adopt = (
                f"; job {stray.id} has this spec's clone name {stray.name!r} and state does not "
                f"know it: if it is this spec's clone, adopt it with `jobspec import {address} "
                f"{stray.id}`"
                if stray is not None
                else ""
            )
            if stray is not None:
                strays[address] = stray.id
            problems.append(f"{wanted.location}: {address}: {exc}{adopt}")
            continue
        if address in moves:
            action = moved_action(action, old=moves[address], wanted=wanted, live=live)
        if wanted.spec.wait_for_idle:
            action = waiting_for_idle(action)
        action, failed = _with_cutover(wanted, entry, action, live, runs or {})
        warnings.extend(failed)
        if entry is not None and entry.forced_import and action.clone_id == entry.clone_id:
            warnings.append(
                PlanWarning(
                    address=address,
                    location=str(wanted.location),
                    message=f"clone {entry.clone_id} was imported with --force: its kind or "
                    f"endpoints did not match source {entry.source_id}",
                )
            )
        actions.append(action)
        planned.append((wanted, action))
    refused, accepted, checked = transfer_conflicts(
        planned=planned, actions=actions, desired=desired, prior=prior, live=live
    )
    problems.extend(refused)
    warnings.extend(accepted)
    refused, accepted = folder_mapping_children(planned=planned, live=live)
    problems.extend(refused)
    warnings.extend(accepted)
    clashes = name_clashes(
        planned=planned,
        desired=desired,
        prior=prior,
        live=live,
        interrupted=interrupted or {},
        strays=strays,
    )
    problems.extend(clashes)
    if problems:
        hint = ADOPT_HINT if clashes or strays else None
        raise PlanError(problems, hint=hint, strays=strays)
    warnings.extend(running_warnings(actions=actions, live=live))
    chosen = set(addresses)  # a set: `in` on the list made this step quadratic
    relevant = needed_job_ids(
        {a: d for a, d in desired.items() if a in chosen},
        {a: e for a, e in prior.items() if a in chosen},
    )
    fingerprints = {
        job_id: (live[job_id].fingerprint() if job_id in live else None)
        for job_id in sorted(relevant)
    }
    return Plan(
        lineage=lineage,
        serial=serial,
        fingerprints=fingerprints,
        placements=placements_digest(live.values()) if checked else None,
        actions=actions,
        warnings=warnings,
        specs={
            action.address: spec_digest(as_written[action.address])
            if action.address in as_written
            else None
            for action in actions
        },
        names=job_names(actions=actions, live=live),
        connections=connection_names(connections, _connection_ids(actions)),
    )


def _with_cutover(
    wanted: DesiredJob,
    entry: StateEntry | None,
    action: Action,
    live: Mapping[str, LiveJob],
    runs: Mapping[str, Mapping[str, Any]],
) -> tuple[Action, list[PlanWarning]]:
    """The cutover steps of `cutover: verified` (see `jobspec.cutover`)."""
    clone_id = action.clone_id or ""
    run = Execution.from_raw(runs[clone_id]) if clone_id in runs else None
    return with_cutover(
        action,
        cutover=wanted.spec.cutover or Cutover.immediate,
        accept_warnings=wanted.spec.accept_warnings,
        entry=entry,
        source=live.get(wanted.spec.source),
        clone_after=lambda: clone_after(action, live),
        run=run or latest_on_job(live.get(clone_id)),
    )


def _connection_ids(actions: Iterable[Action]) -> list[str]:
    """The connection ids a plan's changes show, to put names beside."""
    return [
        str(value)
        for action in actions
        for change in action.changes
        if change.path.endswith("connection.id")
        for value in (change.before, change.after)
        if isinstance(value, str | int) and not isinstance(value, bool)
    ]


def placements_digest(live: Iterable[LiveJob]) -> str:
    """A digest of where every scheduled live job writes (`Plan.placements`)."""
    placed = ((job.id, placement(job.raw)) for job in live)
    return digest({job_id: places for job_id, places in placed if places is not None})


def spec_digest(wanted: DesiredJob) -> str:
    """What a saved plan remembers of a spec, to tell when the spec files changed since.

    Fields added since (moved_from, the cutover fields) count only when set, so specs without
    them keep their digests and saved plans stay comparable.
    """
    document = wanted.spec.model_dump(mode="json")
    if not document.get("moved_from"):
        document.pop("moved_from", None)
    if document.get("cutover") is None:
        document.pop("cutover", None)
    if not document.get("accept_warnings"):
        document.pop("accept_warnings", None)
    return digest(document)


class _CannotPlan(Exception):
    pass


def clones_anything(plan: Plan) -> bool:
    """Does the plan make a new clone? Then the name check needs every live job."""
    return any(step.op is StepOp.clone for action in plan.actions for step in action.steps)


def _shared_sources_deleted(desired: Mapping[str, DesiredJob]) -> list[str]:
    """`original: delete` on a source other specs also clone would delete it under them.

    Addresses run concurrently, so the delete could come before their clones; and a clone
    deleted later could never be made again. Refused, naming every spec involved.
    """
    by_source: dict[str, list[DesiredJob]] = {}
    for wanted in desired.values():
        by_source.setdefault(wanted.spec.source, []).append(wanted)
    problems = []
    for source, sharing in sorted(by_source.items()):
        if len(sharing) < 2:
            continue
        for wanted in sharing:
            if wanted.spec.original is not OriginalPolicy.delete:
                continue
            others = ", ".join(
                f"{other.address} ({other.location})" for other in sharing if other is not wanted
            )
            problems.append(
                f"{wanted.location}: {wanted.address}: `original: delete` would delete source "
                f"{source}, which {others} also clone; use `original: manual` on every spec "
                "that shares a source"
            )
    return problems


def _plan_address(
    wanted: DesiredJob,
    entry: StateEntry | None,
    live: Mapping[str, LiveJob],
    *,
    replace: bool = False,
    accept_source: bool = False,
) -> Action:
    spec = wanted.spec
    source = live.get(spec.source)
    managed = spec.managed_body()
    clone = live.get(entry.clone_id) if entry else None
    common: dict[str, Any] = {
        "address": wanted.address,
        "location": str(wanted.location),
        "source_id": spec.source,
        "original": spec.original,
        "applied": managed,
        "source_digest": source.transfer_digest() if source else None,
    }

    if entry is None or clone is None:
        lost = entry.clone_id if entry else None
        if source is None:
            if lost:
                raise _CannotPlan(
                    f"the clone {lost} was deleted outside jobspec and its source "
                    f"job {spec.source} no longer exists, so it cannot be cloned again"
                )
            raise _CannotPlan(f"source job {spec.source} does not exist on the server")
        reason = (
            f"drift: clone {lost} was deleted outside jobspec" if lost else "new spec: no clone yet"
        )
        steps = [
            Step(
                op=StepOp.clone,
                job_id=source.id,
                role="source",
                body=_clone_body(wanted, source, managed),
            ),
            Step(op=StepOp.verify, role="clone"),
        ]
        retire_steps, _ = retire_original(policy=spec.original, source=source, entry=entry)
        return Action(
            kind=ActionKind.create,
            reasons=[reason],
            changes=_changes_from(managed, with_folders(source.raw)),
            steps=steps + retire_steps,
            clone_id=lost,
            drift=lost is not None,
            **common,
        )

    reasons: list[str] = []
    if entry.source_id != spec.source:
        if source is None:
            raise _CannotPlan(f"source job {spec.source} does not exist on the server")
        reasons.append(f"spec changed: source {entry.source_id} → {spec.source}")
    if replace:
        reasons.append(f"--replace: a fresh clone replaces clone {clone.id}")

    changes = _changes_against(managed, with_folders(clone.raw), entry)
    immutable = [change for change in changes if change.immutable]
    retire_steps, retire_reasons = retire_original(policy=spec.original, source=source, entry=entry)
    leftover_steps, leftover_reasons = retire_superseded(
        policy=spec.original, entry=entry, live=live
    )
    retire_steps = leftover_steps + retire_steps
    retire_reasons = leftover_reasons + retire_reasons
    if entry.source_id == spec.source:
        seen_steps, seen_reasons = record_observed(policy=spec.original, source=source, entry=entry)
        retire_steps += seen_steps
        retire_reasons += seen_reasons
    accepted = _accepted_source(source, entry) if accept_source and not replace else None
    accept_reason = (
        f"--accept-source-drift: source {spec.source}'s transfer settings changed since the "
        "clone was made; recorded as accepted (the clone stays as it is)"
    )
    if accepted is not None and (changes or retire_steps):
        retire_steps.append(accepted)
        retire_reasons.append(accept_reason)

    if reasons or immutable:
        base = source if source is not None else clone
        role = "source" if source is not None else "clone"
        if source is None:
            reasons.append(f"source {spec.source} is gone: cloning the current clone instead")
        reasons.extend(_describe(immutable, replace=True))
        steps = [
            Step(
                op=StepOp.clone, job_id=base.id, role=role, body=_clone_body(wanted, base, managed)
            ),
            Step(op=StepOp.verify, role="clone"),
            _renamed_aside(
                retire_step(job=clone, role="old_clone", how=old_clone_retirement(spec.original)),
                clone,
            ),
        ]
        return Action(
            kind=ActionKind.replace,
            reasons=reasons + retire_reasons,
            changes=changes,
            steps=steps + retire_steps,
            clone_id=clone.id,
            drift=any(change.cause == "server" for change in changes),
            **common,
        )

    if accepted is not None and not changes and not retire_steps:
        return Action(
            kind=ActionKind.update,
            reasons=[accept_reason],
            steps=[accepted],
            clone_id=clone.id,
            **common,
        )
    if changes:
        patch = Step(
            op=StepOp.patch,
            job_id=clone.id,
            role="clone",
            body=patch_body(clone, [(tuple(c.path.split(".")), c.after) for c in changes]),
        )
        return Action(
            kind=ActionKind.update,
            reasons=_describe(changes, replace=False) + retire_reasons,
            changes=changes,
            steps=[patch, *retire_steps],
            clone_id=clone.id,
            drift=any(change.cause == "server" for change in changes) or bool(retire_reasons),
            **common,
        )

    if retire_steps:
        return Action(
            kind=ActionKind.retire,
            reasons=retire_reasons,
            steps=retire_steps,
            clone_id=clone.id,
            drift=entry.original_retired is not None,
            **common,
        )
    return Action(kind=ActionKind.noop, reasons=["up to date"], clone_id=clone.id, **common)


def _renamed_aside(step: Step, clone: LiveJob) -> Step:
    """A replaced clone that stays (set to manual) is renamed too: the new clone has its name."""
    if step.body is None:
        return step
    body = {**step.body, "name": replaced_name(clone.name, job_id=clone.id)}
    return step.model_copy(update={"body": body})


def patch_body(job: LiveJob, pairs: list[tuple[diff.Path, Any]]) -> dict[str, Any]:
    """A partial PATCH of `job`: the changed fields, and the job's `kind` first, as every vendor
    example sends it (jobs are polymorphic; the server picks the type by it)."""
    return {"kind": job.kind, **diff.nest(pairs)}


def _clone_body(wanted: DesiredJob, base: LiveJob, managed: dict[str, Any]) -> dict[str, Any]:
    """The clone request: the managed body, always with a name (DryvIQ's default is unknown),
    and whole endpoints.

    A spec that names part of `transfer.source` or `transfer.destination` (say only the
    destination path) gets the base job's endpoint with its parts replaced: the server may
    replace an endpoint object rather than merge into it, and an endpoint without its
    connection would be broken. A part the spec names (`connection`, `target`) replaces the
    base's part whole: the old folder's other keys must not ride along with a new path.
    Server-maintained parts (`event_position`) are left out.
    """
    body = managed  # wanted.spec.managed_body(), worked out once by the caller
    if "name" not in body:
        body = {"name": default_clone_name(base_name=base.name, address=wanted.address), **body}
    transfer = body.get("transfer")
    if isinstance(transfer, dict):
        whole = dict(transfer)
        for side in ENDPOINT_SIDES:
            named, own = transfer.get(side), base.endpoint_configuration(side)
            if isinstance(named, dict) and named and own is not None:
                whole[side] = {**own, **named}
        body = {**body, "transfer": whole}
    return body


def _accepted_source(source: LiveJob | None, entry: StateEntry) -> Step | None:
    """A record of the source's settings now, when they changed since the clone was made."""
    if source is None or entry.source_digest in (None, source.transfer_digest()):
        return None
    return Step(op=StepOp.record, job_id=source.id, role="source")


def _changes_from(managed: dict[str, Any], base: dict[str, Any]) -> list[FieldChange]:
    """What the clone will differ in from its source: shown for a create."""
    return [
        FieldChange(
            path=diff.dotted(path),
            before=None if diff.is_missing(before) else before,
            after=after,
            immutable=diff.is_immutable(path),
            cause="new",
            detail=diff.describe(path, before, after),
        )
        for path, before, after in diff.differing_leaves(managed, base)
    ]


def _changes_against(
    managed: dict[str, Any], clone: dict[str, Any], entry: StateEntry
) -> list[FieldChange]:
    """Managed fields that differ on the live clone, each blamed on the spec or the server."""
    changes = []
    for path, before, after in diff.differing_leaves(managed, clone):
        applied = diff.lookup(entry.applied, path)
        cause = "spec" if diff.is_missing(applied) or applied != after else "server"
        changes.append(
            FieldChange(
                path=diff.dotted(path),
                before=None if diff.is_missing(before) else before,
                after=after,
                immutable=diff.is_immutable(path),
                cause=cause,
                detail=diff.describe(path, before, after),
            )
        )
    return changes


def _describe(changes: list[FieldChange], *, replace: bool) -> list[str]:
    by_spec = [c.path for c in changes if c.cause != "server"]
    by_server = [c.path for c in changes if c.cause == "server"]
    reasons = []
    if by_spec:
        reasons.append("spec changed: " + ", ".join(by_spec))
    if by_server:
        reasons.append("drift: edited outside jobspec: " + ", ".join(by_server))
    if replace:
        reasons.append("source and destination can only be set by cloning again")
    return reasons


def _orphan(address: str, entry: StateEntry, live: Mapping[str, LiveJob], *, prune: bool) -> Action:
    clone = live.get(entry.clone_id)
    common: dict[str, Any] = {
        "address": address,
        "source_id": entry.source_id,
        "clone_id": entry.clone_id,
        "original": entry.original,
        "applied": entry.applied,
    }
    if not prune:
        where = f"clone {entry.clone_id} left as it is" if clone else "its clone is already gone"
        return Action(
            kind=ActionKind.orphan,
            reasons=[f"spec removed: {where} (use --prune to retire it and forget the address)"],
            **common,
        )
    steps: list[Step] = []
    if clone is not None and entry.original is not OriginalPolicy.keep:
        steps.append(retire_step(job=clone, role="clone", how=old_clone_retirement(entry.original)))
    # old clones a replace left behind go too, or nothing would ever retire them
    steps.extend(retire_superseded(policy=entry.original, entry=entry, live=live)[0])
    steps.append(Step(op=StepOp.forget, role="clone"))
    return Action(
        kind=ActionKind.prune,
        reasons=[
            f"spec removed and --prune: retire clone {entry.clone_id} per original: "
            f"{entry.original}, then forget the address"
        ],
        steps=steps,
        **common,
    )
