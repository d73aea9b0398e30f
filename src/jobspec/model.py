"""Typed values: what specs ask for (desired), what the API shows (live), what we did (prior).

Everything here is a frozen value with no I/O, so the planner can be a pure function of these.
Enums follow `dryviq-api.md`; unknown keys in specs are errors (`extra="forbid"`) because a typo
that silently does nothing is the worst failure in a reviewed config. `passthrough` is the
explicit escape hatch for fields jobspec does not model yet.

Fields hold enum members end to end (`StrEnum`, so messages show the value); plain values
appear only where a model meets JSON: `managed_body()` (request bodies, digests), the schema,
and the state and plan files, which pydantic dumps in JSON mode. Live jobs stay raw dicts:
the server may send values jobspec does not know, so they are compared with enum members.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from jobspec.durations import UNIT_ALIASES, split_duration, unit_name
from jobspec.enums import (  # re-exported: their old home
    AuditLevel as AuditLevel,
    ConflictResolution as ConflictResolution,
    Cutover as Cutover,
    CutoverPhase as CutoverPhase,
    DeletePropagation as DeletePropagation,
    DuplicateNames as DuplicateNames,
    EmptyContainers as EmptyContainers,
    FailurePolicy as FailurePolicy,
    ItemOverwrite as ItemOverwrite,
    LockPropagation as LockPropagation,
    OriginalPolicy as OriginalPolicy,
    PermissionFailures as PermissionFailures,
    PermissionPolicy as PermissionPolicy,
    RetireHow as RetireHow,
    ScheduleMode as ScheduleMode,
    TransferType as TransferType,
    VersionPreserve as VersionPreserve,
    VersionSelect as VersionSelect,
)
from jobspec.livejob import (  # re-exported: their old home
    DELETED_STATUS as DELETED_STATUS,
    ENDPOINT_SIDES as ENDPOINT_SIDES,
    MARKERS as MARKERS,
    NOISE_ANYWHERE as NOISE_ANYWHERE,
    RUNNING_STATUSES as RUNNING_STATUSES,
    SERVER_MAINTAINED as SERVER_MAINTAINED,
    LiveJob as LiveJob,
    MalformedJob as MalformedJob,
    canonical_json as canonical_json,
    configuration as configuration,
    digest as digest,
)
from jobspec.merge import deep_merge as deep_merge  # re-exported: its old home

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
JOB_ID_RE = re.compile(JOB_ID_PATTERN)
SPEC_VERSION = 1
ADDRESS_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
ADDRESS_RE = re.compile(ADDRESS_PATTERN)

JobId = Annotated[str, Field(pattern=JOB_ID_PATTERN, description="A DryvIQ job id: 32 hex digits.")]


class Lean(BaseModel):
    """A value whose `model_fields_set` is one set shared by its whole class: every field.

    pydantic keeps per instance the set of fields its caller passed, about 700 bytes each;
    jobspec never reads it (no `exclude_unset`), and 10,000 specs and their plan make some
    400,000 values, so it was a third of a large plan's memory. `model_copy` copies the set
    before it adds to it, so sharing it is safe.
    """

    def model_post_init(self, context: Any, /) -> None:
        object.__setattr__(self, "__pydantic_fields_set__", _every_field(type(self)))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy sharing the class's set too (pydantic's copies it for each copy)."""
        copied = super().model_copy(update=update, deep=deep)
        object.__setattr__(copied, "__pydantic_fields_set__", _every_field(type(copied)))
        return copied


_EVERY_FIELD: dict[type[BaseModel], set[str]] = {}


def _every_field(cls: type[BaseModel]) -> set[str]:
    names = _EVERY_FIELD.get(cls)
    if names is None:
        names = _EVERY_FIELD[cls] = set(cls.model_fields)
    return names


class _Strict(Lean):
    """Fields keep their enum members (`spec.original is OriginalPolicy.keep` holds); values
    appear only where a model is dumped to JSON (`managed_body`, the schema)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Ref(_Strict):
    id: int | str | None = None
    name: str | None = None


class Connection(_Strict):
    """A connection by id, or by name (resolved to its id when planning; the plan and state
    record the id). One of the two."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": ["id"]}, {"required": ["name"]}]},
    )

    id: str | None = Field(
        default=None, min_length=1, description="Connection id on the DryvIQ server."
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        description="Connection name instead of the id: resolved at plan time, refused when "
        "no connection or several bear it.",
    )

    @model_validator(mode="after")
    def _id_or_name(self) -> Connection:
        if (self.id is None) == (self.name is None):
            raise ValueError("give the connection's `id` or its `name` (one of them)")
        return self


class Target(_Strict):
    path: str = Field(description="Folder path inside the connection.")


class Endpoint(_Strict):
    """One side of a transfer. Immutable on the server: changing it means a replace."""

    connection: Connection | None = None
    target: Target | None = None


class Permissions(_Strict):
    policy: PermissionPolicy | None = None
    links: bool | None = None
    failures: PermissionFailures | None = None


class Versioning(_Strict):
    preserve: VersionPreserve | None = None
    select: VersionSelect | None = None


class TimeUnit(StrEnum):
    """The vendor's `TimeInterval` units."""

    ns = "ns"
    us = "us"
    ms = "ms"
    s = "s"
    m = "m"
    h = "h"
    d = "d"


TIME_UNIT_ALIASES = UNIT_ALIASES
"""Long names a person may write; the spec sends the vendor's unit (`durations`' grammar)."""
TIME_OF_DAY_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


class RepeatInterval(_Strict):
    value: int = Field(ge=1)
    unit: TimeUnit = Field(description="ns, us, ms, s, m, h or d (`days`, `hours` … work too).")

    @field_validator("unit", mode="before")
    @classmethod
    def _long_names(cls, value: Any) -> Any:
        """The duration grammar's units (`durations`): `hours`, `H` … are `h`."""
        return (unit_name(value) or value) if isinstance(value, str) else value


class TimeOfDay(_Strict):
    """The vendor's `TimeOfDay`; a spec may also write `"02:30"` or `"02:30:15"`."""

    hr: int = Field(ge=0, le=23)
    min: int = Field(default=0, ge=0, le=59)
    sec: int = Field(default=0, ge=0, le=59)
    ms: int = Field(default=0, ge=0, le=999)


class Schedule(_Strict):
    mode: ScheduleMode | None = Field(
        default=None,
        description="`auto` runs on the schedule; `manual` and `ad-hoc` only when started.",
    )
    start_date: int | str | None = Field(
        default=None, description="Epoch seconds (a string of digits is read as a number)."
    )
    end_date: int | str | None = Field(default=None, description="Epoch seconds, as start_date.")
    days: list[str] | str | None = Field(
        default=None,
        description="Days of the week (a list, in any order) or a name such as `weekends`.",
    )
    repeat_count: int | None = None
    repeat_interval: RepeatInterval | None = Field(
        default=None,
        description='`{value, unit}`, or a duration: `"4h"`, `"30 minutes"` (a whole number).',
    )
    run_at: TimeOfDay | None = Field(
        default=None,
        description='Time of day: `{hr, min, sec, ms}`, or `"HH:MM"` / `"HH:MM:SS"`.',
    )

    @field_validator("start_date", "end_date")
    @classmethod
    def _epoch_seconds(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str) and not value.isdigit():
            raise ValueError(f"must be epoch seconds (like 1767225600), not {value!r}")
        return value

    @field_validator(
        "repeat_interval", mode="before", json_schema_input_type=RepeatInterval | str | None
    )
    @classmethod
    def _interval_text(cls, value: Any) -> Any:
        """`"4h"`: the duration grammar (`durations`) the flags take, as a whole number of one
        unit, which is what the API's `TimeInterval` holds."""
        if not isinstance(value, str):
            return value
        number, unit = split_duration(value)
        if not number.isdigit() or int(number) < 1:
            raise ValueError(
                f"{value!r} is not a whole number of one unit (like 4h, or 90m for 1.5h)"
            )
        return {"value": int(number), "unit": unit}

    @field_validator("run_at", mode="before", json_schema_input_type=TimeOfDay | str | None)
    @classmethod
    def _clock_text(cls, value: Any) -> Any:
        if isinstance(value, str) and (match := TIME_OF_DAY_RE.match(value.strip())):
            hr, minute, sec = match.groups()
            return {"hr": int(hr), "min": int(minute), "sec": int(sec or 0)}
        return value


class StopPolicy(_Strict):
    on_success: int | None = None
    on_failure: int | None = None


class TransferOverrides(_Strict):
    transfer_type: TransferType | None = None
    source: Endpoint | None = Field(
        default=None, description="Where content is read. Changing it replaces the clone."
    )
    destination: Endpoint | None = Field(
        default=None, description="Where content is written. Changing it replaces the clone."
    )
    conflict_resolution: ConflictResolution | None = None
    delete_propagation: list[DeletePropagation] | None = Field(
        default=None, description="One value or a list; always compared as a list."
    )
    lock_propagation: LockPropagation | None = None
    permissions: Permissions | None = Field(
        default=None,
        description="A mapping, or the shorthand `add` / `none` / `diff` (the policy).",
    )
    versioning: Versioning | None = None
    duplicate_names: DuplicateNames | None = None
    item_overwrite: ItemOverwrite | None = None
    failure_policy: FailurePolicy | None = None
    audit_level: AuditLevel | None = None
    empty_containers: EmptyContainers | None = None

    @field_validator(
        "delete_propagation",
        mode="before",
        json_schema_input_type=DeletePropagation | list[DeletePropagation] | None,
    )
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator(
        "permissions", mode="before", json_schema_input_type=Permissions | PermissionPolicy | None
    )
    @classmethod
    def _permissions_shorthand(cls, value: Any) -> Any:
        return {"policy": value} if isinstance(value, str) else value


class Overrides(_Strict):
    """The clone request body. The fields named here are the fields jobspec manages."""

    name: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"\S",  # DryvIQ refuses a blank name
        description="The clone's name; without it jobspec sends `<source name> (<address>)`.",
    )
    description: str | None = None
    disabled: bool | None = Field(default=None, description="A disabled job never runs.")
    priority: int | None = None
    category: Ref | None = None
    scheduler: Ref | None = Field(default=None, description="The scheduler that runs the job.")
    schedule: Schedule | None = None
    stop_policy: StopPolicy | None = None
    transfer: TransferOverrides | None = None


class JobSpec(_Strict):
    """One job as a spec asks for it: a source job to clone, and the overrides to apply."""

    source: JobId = Field(description="Id of the job to clone (32 hex digits).")
    original: OriginalPolicy = Field(
        default=OriginalPolicy.manual,
        description="After the clone exists: `manual` sets the original's schedule to manual, "
        "`delete` deletes it, `keep` leaves it alone.",
    )
    overrides: Overrides = Field(default_factory=Overrides)
    passthrough: dict[str, Any] = Field(
        default_factory=dict,
        description="Escape hatch: fields jobspec does not model, deep-merged into the clone "
        "body unchecked and managed like overrides.",
    )
    allow_overlap_with: list[Annotated[str, Field(pattern=ADDRESS_PATTERN)]] = Field(
        default_factory=list,
        description="Overlaps to accept: job ids (32 hex digits) or addresses of other specs. "
        "The plan refuses two jobs on schedule mode auto that write into the same folder (same "
        "destination connection, one path equal to or inside the other; a source too under "
        "transfer_type move or sync); a job listed here is shown as a warning instead.",
    )
    allow_unplaced: bool = Field(
        default=False,
        description="Accept a scheduled clone whose target names no folder (a platform item "
        "id or a uri, kept from its source): the transfer-conflict check cannot place it, so "
        "the plan refuses it unless this is true, and then warns.",
    )
    wait_for_idle: bool = Field(
        default=False,
        description="Delete the original (or a replaced clone) only once it is not running, "
        "waiting up to apply's --wait-for-idle timeout; as `apply --wait-for-idle` does for "
        "every address.",
    )
    moved_from: Annotated[
        list[Annotated[str, Field(pattern=ADDRESS_PATTERN)]],
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "pattern": ADDRESS_PATTERN},
                    {"type": "array", "items": {"type": "string", "pattern": ADDRESS_PATTERN}},
                ]
            }
        ),
    ] = Field(
        default_factory=list,
        description="The address (or addresses) this spec had before a rename: the plan moves "
        "that address's state entry (and its clone) here instead of cloning again. Harmless "
        "once applied; remove it whenever.",
    )

    @field_validator("moved_from", mode="before")
    @classmethod
    def _one_or_a_list(cls, value: Any) -> Any:
        """`moved_from: old` or `moved_from: [old, older]`."""
        return [value] if isinstance(value, str) else value

    cutover: Cutover | None = Field(
        default=None,
        description="`immediate` (the default, or `cutover` in jobspec.toml) retires the "
        "original as soon as the clone exists; `verified` starts the clone's first run and "
        "retires the original only once that run ended `completed` or `no_changes`.",
    )
    accept_warnings: bool = Field(
        default=False,
        description="Under `cutover: verified`, a first run that ended `warn` counts as good.",
    )

    @model_serializer(mode="wrap")
    def _written_when_true(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`allow_unplaced` is dumped only when true: a spec's digest stays what it was."""
        data: dict[str, Any] = handler(self)
        if not data.get("allow_unplaced"):
            data.pop("allow_unplaced", None)
        return data

    @field_validator("passthrough")
    @classmethod
    def _passthrough_only_unknown(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Known fields go under `overrides`, where they are checked: not around the checks."""
        known = _known_paths(value, Overrides)
        if known:
            shown = ", ".join(f"`{path}`" for path in known)
            raise ValueError(
                f"{shown} {'is a field' if len(known) == 1 else 'are fields'} jobspec knows: "
                f"set {'it' if len(known) == 1 else 'them'} under `overrides`, where values "
                "are checked"
            )
        return value

    def managed_body(self) -> dict[str, Any]:
        """The body jobspec owns on the clone: overrides deep-merged with passthrough."""
        body = self.overrides.model_dump(mode="json", exclude_none=True)
        return deep_merge(body, self.passthrough)


class SpecFile(_Strict):
    """One spec file as written."""

    version: Literal[1] = Field(description="Spec format version; only 1 exists.")
    jobs: dict[Annotated[str, Field(pattern=ADDRESS_PATTERN)], JobSpec] = Field(
        description="Jobs by address: the key in state, unique across all spec files.",
        json_schema_extra={"additionalProperties": False},
    )


class SourceLocation(Lean):
    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class DesiredJob(Lean):
    """A validated spec with its address and where it was written."""

    model_config = ConfigDict(frozen=True)

    address: str
    spec: JobSpec
    location: SourceLocation


CUTOVER_PENDING = frozenset({CutoverPhase.cloned, CutoverPhase.started, CutoverPhase.verified})
CUTOVER_FAILED = frozenset({CutoverPhase.failed, CutoverPhase.restored})


class CutoverRecord(Lean):
    """A verified cutover's phase, the run it watched, and the original's schedule it held."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phase: CutoverPhase
    run_id: int | str | None = None
    run_status: str | None = None
    failures: int | None = None
    warnings: int | None = None
    original_schedule: dict[str, Any] | None = Field(
        default=None,
        description="The original's schedule before it was stopped for an overlapping clone; "
        "put back if the clone's run fails.",
    )
    original_held: bool = False


class StateEntry(Lean):
    """What jobspec did for one address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: str
    clone_id: str
    original: OriginalPolicy
    applied: dict[str, Any] = Field(description="The managed body last applied to the clone.")
    applied_digest: str
    original_retired: RetireHow | None = None
    source_digest: str | None = Field(
        default=None,
        description="Digest of the source's transfer settings when the clone was made.",
    )
    superseded: list[str] = Field(
        default_factory=list,
        description="Old clones replaced by this one and not yet retired (create before destroy).",
    )
    retired_clones: list[str] = Field(
        default_factory=list,
        description="Old clones a replace set to manual: still on the server, still bearing "
        "the clone's name, and ours (a later replace must not take them for strangers). "
        "Written only when there are some.",
    )
    forced_import: bool = Field(
        default=False,
        description="Imported with --force although its kind or endpoints differ from the "
        "source's; every plan says so. Written only when true.",
    )
    cutover: CutoverRecord | None = Field(
        default=None,
        description="A verified cutover's phase (`cutover: verified`). Written only when set.",
    )

    @model_serializer(mode="wrap")
    def _written_when_true(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Entries without the flag (or retired clones) keep the form earlier versions wrote."""
        data: dict[str, Any] = handler(self)
        for optional in ("forced_import", "retired_clones", "cutover"):
            if not data.get(optional):
                data.pop(optional, None)
        return data


def _known_paths(body: dict[str, Any], model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths in `body` that name a field `model` (or its sub-models) already types."""
    found = []
    for key, value in body.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        inner = _sub_model(field.annotation)
        if inner is not None and isinstance(value, dict):
            found.extend(_known_paths(value, inner, f"{prefix}{key}."))
        else:
            found.append(f"{prefix}{key}")
    return found


def _sub_model(annotation: Any) -> type[BaseModel] | None:
    """The model class in `X | None`, if the field holds a model."""
    for option in (*typing.get_args(annotation), annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None
