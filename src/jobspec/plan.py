"""The plan: serialisable values that say what apply will do, and nothing else.

A plan is a list of actions, one per address, each with the exact steps the applier runs in
order (clone → verify → patch → retire). Reasons are for the reader; the applier never reads them.
The plan also carries what it was made from (state lineage and serial, a fingerprint of every
job it read) so a saved plan whose world has moved on can be refused.

The JSON form (`plan --format json`, `plan --out`) is versioned by `format_version`, and
sealed by a `checksum` over everything apply reads, so a plan file edited by hand (or torn in
transit) is refused instead of run as written. The checksum is tamper-evidence, not a
signature: `commands.apply.check_fresh` still checks every step against state and the server.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, Literal

import pydantic_core
from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    computed_field,
    model_serializer,
)

from jobspec.model import Lean, OriginalPolicy, RetireHow, canonical_json

PLAN_FORMAT_VERSION = 1


class ActionKind(Enum):
    """A plain Enum: `replace` would clash with `str.replace` on a StrEnum."""

    create = "create"  # no clone yet (or it was deleted outside jobspec): clone, then retire
    update = "update"  # managed fields differ: PATCH just those
    replace = "replace"  # an immutable field differs: clone again, then retire the old clone
    retire = "retire"  # the clone is fine but the original is not retired (again)
    noop = "noop"
    orphan = "orphan"  # spec removed, clone still in state: shown, nothing done
    prune = "prune"  # spec removed and --prune: retire the clone, forget the address

    @property
    def mark(self) -> str:
        return _MARKS[self]


_MARKS = {
    ActionKind.create: "+",
    ActionKind.update: "~",
    ActionKind.replace: "±",
    ActionKind.retire: "-",
    ActionKind.noop: " ",
    ActionKind.orphan: "?",
    ActionKind.prune: "-",
}

CHANGING_KINDS = frozenset(
    {ActionKind.create, ActionKind.update, ActionKind.replace, ActionKind.retire, ActionKind.prune}
)


class _Value(Lean):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldChange(_Value):
    """One managed field: its dotted path, the live value and the desired value."""

    path: str
    before: Any = None
    after: Any = None
    immutable: bool = False
    cause: Literal["spec", "server", "new"] = Field(
        default="new",
        description="spec: the spec changed it; server: edited outside jobspec; new: first apply.",
    )
    detail: str | None = Field(
        default=None,
        description="What changed inside the value, when before → after does not show it at a "
        "glance: list items added and removed, or a change of type.",
    )


class StepOp(StrEnum):
    clone = "clone"  # POST v1/jobs/{job_id}/clone with body
    verify = "verify"  # GET the new clone and check the managed fields
    patch = "patch"  # PATCH v1/jobs/{job_id} with body
    retire = "retire"  # DELETE, or PATCH the schedule to manual (body), per `how`
    forget = "forget"  # drop the address from state
    record = "record"  # no call: record in state what the plan saw (an earlier retire's effect)
    move = "move"  # no call: give the address the entry of body["from"] (`moved_from:`)
    hold = "hold"  # cutover: PATCH the original's schedule to manual (body), wait for its run
    start = "start"  # cutover: PATCH v1/jobs/{job_id}?start=1, the clone's first run
    await_run = "await_run"  # cutover: read that run; go on when it ended with a status in body
    restore = "restore"  # cutover failed: PATCH the held original back to its schedule (body)


Role = Literal["source", "clone", "original", "old_clone"]


class Step(_Value):
    """One API call (or state change) in an action. `job_id` None means "the new clone"."""

    op: StepOp
    job_id: str | None = None
    role: Role
    body: dict[str, Any] | None = None
    how: RetireHow | None = None
    wait_for_idle: bool = Field(
        default=False,
        description="A delete that waits until the job is not running (the spec asked).",
    )


class CutoverNote(_Value):
    """A verified cutover's phase as the plan saw it, and the next step in words."""

    phase: str = Field(
        description="new, cloned, started, verified, failed or restored (state's phase, or "
        "`new` when this plan makes the clone)."
    )
    next: str = Field(description="What happens next, for the reader.")
    run_status: str | None = None
    progress: float | None = Field(default=None, description="0 to 1, when the server says.")


class Action(_Value):
    address: str
    kind: ActionKind
    reasons: list[str]
    location: str | None = Field(default=None, description="file:line of the spec")
    source_id: str
    clone_id: str | None = Field(default=None, description="The clone before this action.")
    original: OriginalPolicy
    changes: list[FieldChange] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    applied: dict[str, Any] = Field(
        default_factory=dict, description="The managed body recorded in state once done."
    )
    drift: bool = False
    source_digest: str | None = Field(
        default=None, description="The source's transfer digest, recorded with a new clone."
    )
    cutover: CutoverNote | None = Field(
        default=None, description="A verified cutover's phase (absent for `immediate`)."
    )

    @model_serializer(mode="wrap")
    def _omit_absent_cutover(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Leave `cutover` out when None: plans without one keep their form and checksum."""
        document = handler(self)
        if isinstance(document, dict) and document.get("cutover", 0) is None:
            del document["cutover"]
        return document

    @property
    def changes_anything(self) -> bool:
        return self.kind in CHANGING_KINDS


class PlanWarning(_Value):
    address: str
    message: str
    location: str | None = None


class Plan(Lean):
    """A whole plan. `summary` and `has_changes` are written out for CI scripts, ignored on read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format_version: int = PLAN_FORMAT_VERSION
    lineage: str | None = Field(description="Lineage of the state the plan was made from.")
    serial: int = Field(description="Serial of the state the plan was made from.")
    fingerprints: dict[str, str | None] = Field(
        default_factory=dict,
        description="Every job the plan depends on: id → fingerprint, or null if it was absent.",
    )
    actions: list[Action] = Field(default_factory=list)
    warnings: list[PlanWarning] = Field(default_factory=list)
    specs: dict[str, str | None] = Field(
        default_factory=dict,
        description="Each planned address → a digest of its spec, or null if it has none: "
        "`apply FILE` says when the spec files changed since.",
    )
    names: dict[str, str] = Field(
        default_factory=dict,
        description="Job id → the job's name when planned, so readers see names beside ids.",
    )
    connections: dict[str, str] = Field(
        default_factory=dict,
        description="Connection id → its name on the server, for the connections the plan's "
        "changes show. Absent when empty.",
    )
    placements: str | None = Field(
        default=None,
        description="When the transfer-conflict check read every live job: a digest of where "
        "each scheduled one writes (`apply FILE` refuses the plan if a scheduled job moved, "
        "appeared or went, or a job was put on a schedule, since). Absent when the check did "
        "not run.",
    )

    server: str | None = Field(
        default=None,
        description="The server the plan was made against (as the state records servers): "
        "`apply FILE` refuses the plan against any other.",
    )

    @model_serializer(mode="wrap")
    def _omit_absent_placements(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Leave `placements` and `server` out when None: plans without them keep their form
        and checksum."""
        document = handler(self)
        for key in ("placements", "server"):
            if isinstance(document, dict) and document.get(key, 0) is None:
                del document[key]
        if isinstance(document, dict) and document.get("connections", 0) == {}:
            del document["connections"]  # likewise: plans naming no connection keep their form
        return document

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_changes(self) -> bool:
        return any(action.changes_anything for action in self.actions)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> dict[str, int]:
        """The plan's tally (`tally`): actions per kind, then the jobs it retires."""
        return tally(self.actions)

    def retire_steps(self) -> list[tuple[Action, Step]]:
        """Every step that deletes a job or takes it off its schedule, in plan order."""
        return [
            (action, step)
            for action in self.actions
            for step in action.steps
            if step.op is StepOp.retire
        ]

    @property
    def deletes(self) -> list[tuple[Action, Step]]:
        """The steps that delete a job on the server."""
        return [(a, step) for a, step in self.retire_steps() if step.how is RetireHow.deleted]

    def to_json(self) -> str:
        """The document, with `deletes` (every job the plan deletes) as its first member and
        `summary` as its last, so its top and bottom lines say what gets deleted."""
        deletes = [
            {
                "address": action.address,
                "role": step.role,
                "job_id": step.job_id,
                "name": self.names.get(step.job_id) if step.job_id else None,
            }
            for action, step in self.deletes
        ]
        document = {"deletes": deletes, **self.model_dump(mode="json")}
        document["checksum"] = _seal(document)
        document["summary"] = document.pop("summary")
        # pydantic-core's writer: the same text as `json.dumps(indent=2, ensure_ascii=False)`
        # (a float may be spelled otherwise, `0.00001` for `1e-05`: the same number), 1.7 s
        # -> 0.25 s for a 10,000-address plan. The seal is over `canonical_json`, not this.
        return pydantic_core.to_json(document, indent=2).decode() + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Parse a plan and check its seal; ValueError when it is missing or does not match."""
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("a plan is a JSON object")
        sealed = document.pop("checksum", None)
        plan = cls.model_validate(document)
        if sealed is None:
            raise PlanTampered("it has no checksum (made by an older jobspec?)")
        if sealed != _seal(document):
            raise PlanTampered("its checksum does not match its content: it was edited")
        return plan


TALLY_KEYS = {
    ActionKind.create: "create",
    ActionKind.update: "update",
    ActionKind.replace: "replace",
    ActionKind.retire: "retire_only",
    ActionKind.noop: "noop",
    ActionKind.orphan: "orphan",
    ActionKind.prune: "prune",
}
"""An action kind's key in a tally. An action that only retires is `retire_only`: `retire`
counts the jobs retired, whatever action retires them."""


def retire_tally(steps: Iterable[Step]) -> dict[str, int]:
    """The jobs `steps` retire: `retire` = `delete` + `set_manual`, always."""
    hows = [step.how for step in steps if step.op is StepOp.retire]
    deleted = sum(1 for how in hows if how is RetireHow.deleted)
    manual = sum(1 for how in hows if how is RetireHow.manual)
    return {"retire": deleted + manual, "delete": deleted, "set_manual": manual}


def tally(actions: Iterable[Action]) -> dict[str, int]:
    """The one count of a plan every summary shows (text, markdown, JSON, apply's): actions
    per kind, then the jobs retired, deleted and set to manual, counted from the steps, so
    that no two summaries can disagree. Deletes and set-manuals are counted apart because a
    reviewer must not mistake one for the other."""
    listed = list(actions)
    counts = dict.fromkeys(TALLY_KEYS.values(), 0)
    for action in listed:
        counts[TALLY_KEYS[action.kind]] += 1
    counts.update(retire_tally(step for action in listed for step in action.steps))
    return counts


def _seal(document: dict[str, Any]) -> str:
    """A digest over the whole document as written (the parts apply reads, and the parts only
    a reviewer reads, such as `deletes` and `summary`): any edit breaks it."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


class PlanTampered(ValueError):
    """A plan file's seal is missing or broken."""


@dataclass(frozen=True, kw_only=True)
class PlanOptions:
    """How a plan is shaped, as `plan` and `apply` ask: one value from the flags to the planner.

    `targets` empty plans every address; `replace` clones those addresses afresh; and
    `accept_source` records that their source changed and their clone stays as it is.
    """

    prune: bool = False
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    accept_source: tuple[str, ...] = ()

    @property
    def shapes(self) -> bool:
        """Whether any option is set: a saved plan, which runs as it is, takes none."""
        return bool(self.prune or self.targets or self.replace or self.accept_source)
