"""Clone names as identities: which name each address's clone bears, and who else bears it.

A clone whose reply was lost is recognised by its name, so two addresses never share one,
and a live job that state does not know is never shadowed by a new clone of the same name (it
may be this address's clone, made before the state was lost): the plan refuses, and the
person adopts it with `jobspec import` or renames the clone. Pure: the planner calls these.

Names are compared in one normal form, `name_key` (Unicode NFC; no case folding, since no
server is known to fold case), wherever a name is an identity: here, in the plan's field
comparison (`diff`), in the search for a lost clone and in a saved plan's name check.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from jobspec.model import DesiredJob, LiveJob, StateEntry
from jobspec.plan import Action, StepOp


def name_key(name: str) -> str:
    """The normal form two names are compared in: NFC, so a server that stores names in NFC
    (as many do) still holds the name jobspec sent. ASCII is its own normal form."""
    return name if name.isascii() else unicodedata.normalize("NFC", name)


def default_clone_name(*, base_name: str, address: str) -> str:
    """The name a clone gets when its spec names none: the base job's, with the address,
    which is unique, so that the clone can be recognised later."""
    return f"{base_name} ({address})"


def replaced_name(name: str, *, job_id: str) -> str:
    """The name a replaced clone that stays on the server (off its schedule) is given, so that
    no two live jobs share the name: its own, with a suffix unique to it (its id's start)."""
    return f"{name} (replaced {job_id[:8]})"


def job_names(*, actions: list[Action], live: Mapping[str, LiveJob]) -> dict[str, str]:
    """The name of every live job the actions mention: shown beside its id."""
    ids: set[str] = set()
    for action in actions:
        ids.update(filter(None, [action.source_id, action.clone_id]))
        ids.update(step.job_id for step in action.steps if step.job_id)
    return {job_id: live[job_id].name for job_id in sorted(ids) if job_id in live}


ADOPT_HINT = (
    "clone names are identities: adopt the job that already has the name with "
    "`jobspec import ADDRESS JOB_ID` (every such job at once: `jobspec import --discover`), "
    "or give the clone a name of its own; nothing was applied "
    "(if the state file was deleted by mistake and its .backup is beside it, "
    "`jobspec state restore` brings that back)"
)


def identity_name(*, wanted: DesiredJob, action: Action, live: Mapping[str, LiveJob]) -> str | None:
    """The name the address's clone will have once the plan is applied."""
    for step in action.steps:
        if step.op is StepOp.clone and step.body is not None:
            return str(step.body["name"])
    if wanted.spec.overrides.name is not None:
        return wanted.spec.overrides.name
    clone = live.get(action.clone_id or "")
    return clone.name if clone is not None else None


def known_ids(*, desired: Mapping[str, DesiredJob], prior: Mapping[str, StateEntry]) -> set[str]:
    """Jobs state or the specs name: sources, clones, replaced clones and the old clones a
    replace set to manual (they keep the clone's name)."""
    known = {wanted.spec.source for wanted in desired.values()}
    for entry in prior.values():
        known.update((entry.source_id, entry.clone_id, *entry.superseded, *entry.retired_clones))
    return known


def unknown_namesake(
    *,
    wanted: DesiredJob,
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    live: Mapping[str, LiveJob],
) -> LiveJob | None:
    """A job state does not know that bears the spec's explicit clone name: when a spec cannot
    be planned (its source is gone), it may be the clone a lost state knew."""
    name = wanted.spec.overrides.name
    if name is None:
        return None
    known = known_ids(desired=desired, prior=prior)
    key = name_key(name)
    found = sorted(
        (job for job in live.values() if name_key(job.name) == key and job.id not in known),
        key=lambda job: job.id,
    )
    return found[0] if found else None


def name_clashes(
    *,
    planned: list[tuple[DesiredJob, Action]],
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    live: Mapping[str, LiveJob],
    interrupted: Mapping[str, str],
    strays: dict[str, str] | None = None,
) -> list[str]:
    """Two addresses whose clones would share a name once the plan is applied, and new clones
    whose name a live job that state does not know already bears (each such address and job
    id also put in `strays`: what `jobspec import --discover` would adopt)."""
    problems: list[str] = []
    known = known_ids(desired=desired, prior=prior)
    by_name: dict[str, list[LiveJob]] = {}
    for job in live.values():
        by_name.setdefault(name_key(job.name), []).append(job)

    # the name each address's clone has after the plan: planned addresses as planned, the
    # others (orphans, addresses outside --target) as their clone is named now
    claims: dict[str, tuple[str, str]] = {}  # name → (address, where)
    planned_addresses = {wanted.address for wanted, _ in planned}
    for address, entry in sorted(prior.items()):
        clone = live.get(entry.clone_id)
        if address not in planned_addresses and clone is not None:
            claims.setdefault(name_key(clone.name), (address, f"clone {clone.id}"))
    for wanted, action in planned:
        name = identity_name(wanted=wanted, action=action, live=live)
        if name is None:
            continue
        holder, where = claims.setdefault(name_key(name), (wanted.address, str(wanted.location)))
        if holder != wanted.address:
            problems.append(
                f"{wanted.location}: {wanted.address}: its clone would be named {name!r}, "
                f"the name of {holder}'s clone ({where}); two addresses cannot share a clone "
                "name"
            )
            continue
        if not any(step.op is StepOp.clone for step in action.steps):
            continue
        if name_key(interrupted.get(wanted.address) or "") == name_key(name):
            continue  # the job with this name may be what the interrupted run made: recovery
        for job in sorted(by_name.get(name_key(name), ()), key=lambda job: job.id):
            if job.id not in known:
                if strays is not None:
                    strays.setdefault(wanted.address, job.id)
                problems.append(
                    f"{wanted.location}: {wanted.address}: job {job.id} is already named "
                    f"{name!r} and state does not know it (was the state lost, or the address "
                    f"renamed?); adopt it with `jobspec import {wanted.address} {job.id}`, or "
                    "give the clone another name"
                )
    return problems
