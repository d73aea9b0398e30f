"""The enums of specs, jobs and state, from `dryviq-api.md`: values with no behaviour.

Kept apart from `model` so that module stays about the models; `model` re-exports each name,
so `from jobspec.model import TransferType` keeps working.
"""

from __future__ import annotations

from enum import StrEnum


class TransferType(StrEnum):
    sync = "sync"
    copy = "copy"
    move = "move"
    migrate = "migrate"
    publish = "publish"
    taxonomy = "taxonomy"


class ConflictResolution(StrEnum):
    copy = "copy"
    latest = "latest"
    source = "source"
    destination = "destination"
    failure = "failure"


class DeletePropagation(StrEnum):
    ignore_both = "ignore_both"
    ignore_source = "ignore_source"
    ignore_destination = "ignore_destination"
    mirror = "mirror"


class LockPropagation(StrEnum):
    ignore = "ignore"
    mirror_lock = "mirror_lock"
    mirror_owner = "mirror_owner"


class PermissionPolicy(StrEnum):
    none = "none"
    add = "add"
    diff = "diff"


class PermissionFailures(StrEnum):
    none = "none"
    exceptions = "exceptions"
    deny = "deny"
    all = "all"


class VersionPreserve(StrEnum):
    none = "none"
    native = "native"


class VersionSelect(StrEnum):
    all = "all"
    latest = "latest"


class DuplicateNames(StrEnum):
    rename = "rename"
    warn = "warn"


class ItemOverwrite(StrEnum):
    overwrite = "overwrite"
    skip = "skip"
    fail = "fail"


class FailurePolicy(StrEnum):
    continue_ = "continue"
    halt = "halt"


class AuditLevel(StrEnum):
    none = "none"
    trace = "trace"
    debug = "debug"
    info = "info"
    warn = "warn"
    error = "error"


class EmptyContainers(StrEnum):
    create = "create"
    skip = "skip"


class ScheduleMode(StrEnum):
    manual = "manual"
    auto = "auto"
    ad_hoc = "ad-hoc"


class OriginalPolicy(StrEnum):
    """What happens to the source job once its clone exists."""

    manual = "manual"
    delete = "delete"
    keep = "keep"


class Cutover(StrEnum):
    """When the original is retired: at once, or once the clone's first run ended well."""

    immediate = "immediate"
    verified = "verified"


class RetireHow(StrEnum):
    """How an original (or an old clone) was retired."""

    manual = "manual"
    deleted = "deleted"
    kept = "kept"


class CutoverPhase(StrEnum):
    """Where a verified cutover stands, recorded in state through the journal."""

    cloned = "cloned"  # the clone exists; its first run is not started yet
    started = "started"  # its first run was started
    verified = "verified"  # that run ended well; the original is being retired
    retired = "retired"  # done
    failed = "failed"  # the run ended badly: clone set to manual, original left as it was
    restored = "restored"  # failed, and the original's schedule was put back
