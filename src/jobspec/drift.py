"""Drift: what changed outside an apply, and where it came from. Pure, for scheduled checks.

Each finding is classified by who moved: the spec (edited and not applied yet), the server
(the clone or the original edited, deleted or rescheduled by hand), or the source job (its
transfer settings changed since the clone was made from it, so a fresh clone would differ).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from jobspec.model import LiveJob, StateEntry
from jobspec.plan import Action, ActionKind, Plan, Step, StepOp
from jobspec.render import named_value as named


class DriftKind(StrEnum):
    spec = "changed in the spec"
    server = "edited on the server"
    source = "source job changed"


@dataclass(frozen=True)
class Drift:
    address: str
    kind: DriftKind
    detail: str


def find_drift(
    plan: Plan, *, prior: Mapping[str, StateEntry], live: Mapping[str, LiveJob]
) -> list[Drift]:
    """Every drift finding, in address order."""
    found: list[Drift] = []
    known = plan.connections
    for action in plan.actions:
        address = action.address
        entry = prior.get(address)
        if action.kind is ActionKind.create:
            if action.drift:
                found.append(
                    Drift(address, DriftKind.server, f"clone {action.clone_id} was deleted")
                )
            else:
                found.append(Drift(address, DriftKind.spec, "new spec, not applied yet"))
        elif action.kind is ActionKind.orphan:
            found.append(Drift(address, DriftKind.spec, "spec removed; its clone is in state"))
        for change in action.changes if action.kind is not ActionKind.create else ():
            kind = DriftKind.server if change.cause == "server" else DriftKind.spec
            found.append(
                Drift(
                    address,
                    kind,
                    f"{change.path}: clone has {named(change.path, change.before, known)}, "
                    f"spec says {named(change.path, change.after, known)}"
                    + (f" ({change.detail})" if change.detail else ""),
                )
            )
        if entry is not None and entry.original_retired is not None:
            found.extend(_original_drift(action.steps, address, entry, live))
        found.extend(_cutover_drift(action))
        if entry is not None and entry.source_digest is not None:
            source = live.get(entry.source_id)
            if source is not None and source.transfer_digest() != entry.source_digest:
                found.append(
                    Drift(
                        address,
                        DriftKind.source,
                        f"source {source.id}'s transfer settings changed since the clone was "
                        "made; a fresh clone would differ",
                    )
                )
    return found


def _original_drift(
    steps: list[Step], address: str, entry: StateEntry, live: Mapping[str, LiveJob]
) -> list[Drift]:
    """The original was retired once and is not any more (rescheduled, or undeleted)."""
    if not any(step.op is StepOp.retire and step.role == "original" for step in steps):
        return []
    original = live.get(entry.source_id)
    state = f"is on schedule {original.schedule_mode!r}" if original else "is back"
    return [Drift(address, DriftKind.server, f"original {entry.source_id} {state} again")]


def _cutover_drift(action: Action) -> list[Drift]:
    """A verified cutover that failed, or whose clone's run was stopped by hand."""
    note = action.cutover
    if note is None:
        return []
    if note.phase in ("failed", "restored"):
        return [Drift(action.address, DriftKind.server, note.next)]
    if note.phase != "new" and note.run_status == "cancelled":
        return [
            Drift(
                action.address,
                DriftKind.server,
                f"clone {action.clone_id}'s first run was cancelled (stopped by hand?): the "
                "next apply counts the cutover as failed",
            )
        ]
    return []
