"""What the emulated server accepts in a job, and how a write changes one: pure functions.

The emulator plays the server, so it keeps its own table of allowed values instead of sharing
the client's models: a client bug must not be mirrored by the server it is tested against.
Every function here takes values and returns new values; nothing is changed in place, so the
store can hand out its dicts without copying them.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from jobspec.merge import deep_merge

RawJob = dict[str, Any]

# Allowed values by field path; `None` (or a missing key) always means "not set".
ENUM_FIELDS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("kind",): ("transfer", "folder_mapping", "personal_drive"),
    ("schedule", "mode"): ("manual", "auto", "ad-hoc"),
    ("transfer", "transfer_type"): (
        "sync",
        "copy",
        "move",
        "migrate",
        "publish",
        "taxonomy",
        "default",
    ),
    ("transfer", "conflict_resolution"): ("copy", "latest", "source", "destination", "failure"),
    ("transfer", "lock_propagation"): ("ignore", "mirror_lock", "mirror_owner"),
    ("transfer", "permissions", "policy"): ("none", "add", "diff"),
    ("transfer", "permissions", "failures"): ("none", "exceptions", "deny", "all"),
    ("transfer", "versioning", "preserve"): ("none", "native"),
    ("transfer", "versioning", "select"): ("all", "latest"),
    ("transfer", "duplicate_names"): ("rename", "warn"),
    ("transfer", "item_overwrite"): ("overwrite", "skip", "fail"),
    ("transfer", "failure_policy"): ("continue", "halt"),
    ("transfer", "audit_level"): ("none", "trace", "debug", "info", "warn", "error"),
    ("transfer", "empty_containers"): ("create", "skip"),
}
LIST_ENUM_FIELDS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("transfer", "delete_propagation"): (
        "ignore_both",
        "ignore_source",
        "ignore_destination",
        "mirror",
    ),
}
OBJECT_FIELDS: tuple[tuple[str, ...], ...] = (
    ("schedule",),
    ("transfer",),
    ("transfer", "source"),
    ("transfer", "destination"),
    ("transfer", "permissions"),
    ("transfer", "versioning"),
)
IMMUTABLE_FIELDS: tuple[tuple[str, ...], ...] = (
    ("transfer", "source"),
    ("transfer", "destination"),
)

# Set by the server only: ignored when a client sends them.
SERVER_FIELDS = frozenset(
    {"id", "type", "links", "status", "created_on", "created_by", "modified_on", "modified_by"}
)
# Not carried over to a clone.
NOT_CLONED = frozenset(
    {
        "id",
        "created_on",
        "created_by",
        "modified_on",
        "modified_by",
        "status",
        "execution",
        "previous_execution",
        "links",
    }
)
JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")


class JobRejected(Exception):
    """A write the server refuses; each problem becomes one `errors[].description`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def normalise_body(body: RawJob) -> RawJob:
    """A request body in stored form: server fields dropped, shorthands expanded.

    `delete_propagation: "mirror"` becomes `["mirror"]`; `permissions: "add"` becomes
    `{"policy": "add"}`, which a deep merge then folds into the existing permissions.
    """
    clean = {key: value for key, value in body.items() if key not in SERVER_FIELDS}
    transfer = clean.get("transfer")
    if isinstance(transfer, dict):
        transfer = dict(transfer)
        if isinstance(transfer.get("delete_propagation"), str):
            transfer["delete_propagation"] = [transfer["delete_propagation"]]
        if isinstance(transfer.get("permissions"), str):
            transfer["permissions"] = {"policy": transfer["permissions"]}
        clean["transfer"] = transfer
    return clean


def lookup(job: RawJob, path: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) at `path`; not found when a parent is missing or not a mapping."""
    value: Any = job
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def _allowed(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def problems_in(job: RawJob, *, require_name: bool = True) -> list[str]:
    """Every reason the server would refuse this (normalised, merged) job; empty when fine."""
    problems: list[str] = []
    name = job.get("name")
    if (require_name or "name" in job) and (not isinstance(name, str) or not name.strip()):
        problems.append("name is required and must be a non-empty string")
    bad_objects: list[tuple[str, ...]] = []
    for path in OBJECT_FIELDS:
        found, value = lookup(job, path)
        if found and value is not None and not isinstance(value, dict):
            label = ".".join(path)
            if path == ("transfer", "permissions"):
                choices = _allowed(ENUM_FIELDS[(*path, "policy")])
                problems.append(f"{label} must be an object or one of: {choices}")
            else:
                problems.append(f"{label} must be an object")
            bad_objects.append(path)
    for path, allowed in ENUM_FIELDS.items():
        if any(path[: len(bad)] == bad for bad in bad_objects):
            continue
        found, value = lookup(job, path)
        if found and value is not None and value not in allowed:
            problems.append(
                f"{'.'.join(path)}: {value!r} is not allowed; allowed values: {_allowed(allowed)}"
            )
    problems += _schedule_problems(job.get("schedule"))
    for path, allowed in LIST_ENUM_FIELDS.items():
        found, value = lookup(job, path)
        if not found or value is None:
            continue
        label = ".".join(path)
        if not isinstance(value, list):
            problems.append(
                f"{label} must be a string or a list; allowed values: {_allowed(allowed)}"
            )
            continue
        for item in value:
            if item not in allowed:
                problems.append(
                    f"{label}: {item!r} is not allowed; allowed values: {_allowed(allowed)}"
                )
    return problems


TIME_UNITS = ("ns", "us", "ms", "s", "m", "h", "d")
TIME_OF_DAY_LIMITS = {"hr": 23, "min": 59, "sec": 59, "ms": 999}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _schedule_problems(schedule: Any) -> list[str]:
    """The vendor's schedule shapes: `run_at` a TimeOfDay `{hr, min, sec, ms}`,
    `repeat_interval` a TimeInterval `{value, unit}`, `days` a list or a name, dates epoch
    seconds (a string of digits too)."""
    if not isinstance(schedule, dict):
        return []
    problems = []
    run_at = schedule.get("run_at")
    if run_at is not None:
        if not isinstance(run_at, dict) or "hr" not in run_at:
            problems.append("schedule.run_at must be an object {hr, min, sec, ms}")
        else:
            for key, value in run_at.items():
                top = TIME_OF_DAY_LIMITS.get(key)
                if top is None or not _whole(value) or not 0 <= value <= top:
                    problems.append(f"schedule.run_at.{key}: {value!r} is not allowed")
    interval = schedule.get("repeat_interval")
    if interval is not None:
        if not isinstance(interval, dict) or not _whole(interval.get("value")):
            problems.append("schedule.repeat_interval must be an object {value, unit}")
        elif interval.get("unit") not in TIME_UNITS:
            problems.append(
                f"schedule.repeat_interval.unit: {interval.get('unit')!r} is not allowed; "
                f"allowed values: {_allowed(TIME_UNITS)}"
            )
    days = schedule.get("days")
    if days is not None and not (
        isinstance(days, str) or (isinstance(days, list) and all(isinstance(d, str) for d in days))
    ):
        problems.append("schedule.days must be a string or a list of strings")
    for key in ("start_date", "end_date"):
        value = schedule.get(key)
        digits = isinstance(value, str) and value.isdigit()
        if value is not None and not (_whole(value) or digits):
            problems.append(f"schedule.{key} must be epoch seconds, got {value!r}")
    return problems


def check(job: RawJob, *, require_name: bool = True) -> RawJob:
    """`job` unchanged when the server accepts it; `JobRejected` listing every problem if not."""
    problems = problems_in(job, require_name=require_name)
    if problems:
        raise JobRejected(problems)
    return job


def immutable_changes(current: RawJob, merged: RawJob) -> list[str]:
    """One problem per creation-only field that `merged` changes; sending the same value is fine."""
    problems = []
    for path in IMMUTABLE_FIELDS:
        if lookup(current, path) != lookup(merged, path):
            problems.append(f"{'.'.join(path)} is immutable after creation; clone the job instead")
    return problems


def normalise_patch(body: RawJob) -> RawJob:
    """A PATCH body in stored form, without stray top-level keys: a transfer setting sent at
    the top (the vendor's own example sends `transfer_type` there) is not a job field, and the
    server's typed model drops it rather than store it."""
    clean = normalise_body(body)
    return {key: value for key, value in clean.items() if key not in STRAY_PATCH_KEYS}


STRAY_PATCH_KEYS = frozenset(path[1] for path in ENUM_FIELDS if path[0] == "transfer")


def replace_endpoints(base: RawJob, body: RawJob) -> RawJob:
    """`body` deep-merged over `base`, except that an endpoint it names replaces the old one
    whole (a server that does not merge three levels down)."""
    merged = deep_merge(base, body, copy_values=True)
    transfer = body.get("transfer")
    if isinstance(transfer, dict) and isinstance(merged.get("transfer"), dict):
        for side in ENDPOINTS:
            if side in transfer:
                merged["transfer"][side] = copy.deepcopy(transfer[side])
    return merged


ENDPOINTS = ("source", "destination")
SET_LIKE_FIELDS = (("transfer", "delete_propagation"), ("schedule", "days"))


def sorted_sets(job: RawJob) -> RawJob:
    """The job with its set-like lists sorted: stored in the server's order, not the client's."""
    result = job
    for parent, key in SET_LIKE_FIELDS:
        container = result.get(parent)
        if isinstance(container, dict) and isinstance(container.get(key), list):
            try:
                ordered = sorted(container[key])
            except TypeError:  # mixed types: refused later by the checks
                continue
            result = {**result, parent: {**container, key: ordered}}
    return result


def endpoint_problems(job: RawJob) -> list[str]:
    """An endpoint must name its connection and its folder (a `path`, or the documented
    `item` or `uri` forms)."""
    problems = []
    for side in ENDPOINTS:
        found, endpoint = lookup(job, ("transfer", side))
        if not found or endpoint is None:
            continue
        ok, value = lookup(job, ("transfer", side, "connection", "id"))
        if not ok or not isinstance(value, str) or not value:
            problems.append(f"transfer.{side}.connection.id is required")
        ok, target = lookup(job, ("transfer", side, "target"))
        if isinstance(target, dict) and (target.get("item") or target.get("uri")):
            continue
        ok, value = lookup(job, ("transfer", side, "target", "path"))
        if not ok or not isinstance(value, str) or not value:
            problems.append(f"transfer.{side}.target.path is required")
    return problems


def clone_base(source: RawJob) -> RawJob:
    """A deep copy of `source` without the fields a clone does not inherit."""
    return {key: copy.deepcopy(value) for key, value in source.items() if key not in NOT_CLONED}
