"""Saved plan files: read one (refusing what is not a plan, or a newer format) and write one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from jobspec.errors import UsageError
from jobspec.files import atomic_write, read_regular
from jobspec.plan import PLAN_FORMAT_VERSION, Plan, PlanTampered

__all__ = ["read_plan_file", "save_plan_file"]

MAX_PLAN_BYTES = 256 * 1024 * 1024
"""A plan for 10,000 addresses is a few MB; a bigger file is not one `plan --out` wrote."""


def read_plan_file(path: Path) -> Plan:
    """A saved plan, or UsageError when the file is missing, not a plan, or from a newer jobspec."""
    try:
        text = read_regular(path, limit=MAX_PLAN_BYTES)[0].decode("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read plan file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(
            f"{path} is not a jobspec plan file (not UTF-8 text)",
            hint="save one with `jobspec plan --out FILE`",
        ) from None
    try:
        plan = Plan.from_json(text)
    except PlanTampered as exc:
        raise UsageError(
            f"{path} cannot be applied: {exc}",
            hint="apply only plans that `jobspec plan --out` made, unedited; plan again",
        ) from exc
    except (ValidationError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a jobspec plan file",
            hint="save one with `jobspec plan --out FILE`",
        ) from exc
    if plan.format_version > PLAN_FORMAT_VERSION:
        raise UsageError(
            f"{path} has plan format {plan.format_version}; this jobspec reads "
            f"{PLAN_FORMAT_VERSION}",
            hint="apply it with the jobspec version that made it",
        )
    return plan


def save_plan_file(plan: Plan, path: Path, *, scrub: Callable[[str], str] | None = None) -> None:
    """Write `plan` for `jobspec apply FILE`, atomically (a reader never sees half a plan).

    `scrub` takes any known secret a server slipped into a name out of the file.
    """
    text = plan.to_json()
    try:
        atomic_write(path, [(scrub(text) if scrub else text).encode()])
    except OSError as exc:
        raise UsageError(
            f"cannot write the plan to {path}: {exc.strerror}",
            hint="--out names a file in a folder that exists",
        ) from None
