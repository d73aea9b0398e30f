"""The plan: serialisable values that say what apply will do, and nothing else.

A plan is a list of actions, one per address, each with the exact steps the applier runs in
order (clone → verify → patch → retire). Reasons are for the reader; the applier never reads them.
The plan also carries what it was made from (state lineage and serial, a fingerprint of every
job it read) so a saved plan whose world has moved on can be refused.

The JSON form (`plan --format json`, `plan --out`) is versioned by `format_version`.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from jobspec.model import OriginalPolicy, RetireHow

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


class _Value(BaseModel):
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

    @property
    def changes_anything(self) -> bool:
        return self.kind in CHANGING_KINDS


class PlanWarning(_Value):
    address: str
    message: str
    location: str | None = None


class Plan(BaseModel):
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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_changes(self) -> bool:
        return any(action.changes_anything for action in self.actions)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> dict[str, int]:
        counts = {kind.value: 0 for kind in ActionKind}
        for action in self.actions:
            counts[action.kind.value] += 1
        return counts

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)
