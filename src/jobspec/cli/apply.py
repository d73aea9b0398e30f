"""`apply`: run a saved plan exactly, or plan and apply (asking first on a terminal)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Unpack

import click

from jobspec.cli.options import (
    CREDENTIALS_EPILOG,
    Command,
    ConnectionFlags,
    connection_options,
    duration,
    format_option,
    idle_wait,
    lock_timeout_option,
    ownership_options,
)
from jobspec.cli.run import Specs, server_run
from jobspec.cli.runtime import (
    Console,
    Interrupted,
    event_writer,
    report_errors,
    show,
    utc_now,
)
from jobspec.errors import JobspecError

if TYPE_CHECKING:
    from jobspec.idle import IdleWait
    from jobspec.plan import PlanOptions
    from jobspec.views.listeners import HumanListener, JsonListener


@click.command(cls=Command, epilog=CREDENTIALS_EPILOG)
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@connection_options
@click.option("--auto-approve", is_flag=True, help="Do not ask; required when not on a terminal.")
@click.option("--prune", is_flag=True, help="Retire the clones of removed specs, forget them.")
@lock_timeout_option
@click.option(
    "--wait-for-idle",
    "wait_for_idle",
    is_flag=False,
    flag_value="600",
    default=None,
    callback=duration,
    metavar="[=SECONDS]",
    help="Delete an original (or a replaced clone) only once it is not running, waiting up "
    "to SECONDS (or a duration: 10m, 1.5h …) [default: 600].",
)
@click.option(
    "--wait",
    "wait_runs",
    default=None,
    callback=duration,
    metavar="DURATION",
    help="Wait up to DURATION (300, 90s, 10m, 1h) for the first runs of verified cutovers "
    "to end, and retire their originals in this run; Ctrl-C ends the wait.",
)
@ownership_options
@format_option(
    ["text", "json"],
    default="text",
    help="`json`: one JSON object a line (plan, steps, summary) instead of text; needs "
    "--auto-approve or a plan file.",
)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@report_errors
def apply(
    plan_file: str | None,
    auto_approve: bool,
    prune: bool,
    lock_timeout: float,
    wait_for_idle: float | None,
    wait_runs: float | None,
    replace: tuple[str, ...],
    accept_source: tuple[str, ...],
    output_format: str,
    as_json: bool,
    **flags: Unpack[ConnectionFlags],
) -> None:
    """Make it so: run a saved plan exactly, or plan and apply (asking first on a terminal).

    A running job is deleted at once unless --wait-for-idle (or `wait_for_idle: true` in its
    spec) asks to wait; a wait that times out leaves the delete for the next apply. A
    verified cutover whose clone's first run is still going is left for the next apply
    (exit 0) unless --wait gives it time.

    \b
    Example:
      jobspec apply plan.json --wait-for-idle=10m
    """
    from jobspec.errors import UsageError
    from jobspec.plan import PlanOptions
    from jobspec.views.listeners import HumanListener, JsonListener

    as_json = as_json or output_format == "json"
    if as_json and not (auto_approve or plan_file):
        raise UsageError(
            "--format json cannot ask for confirmation",
            hint="pass --auto-approve, or apply a reviewed plan file",
        )
    listener: HumanListener | JsonListener
    if as_json:
        listener = JsonListener(write=event_writer(), now=utc_now)
    else:
        listener = HumanListener(Console(), auto_approve=auto_approve)
    shape = PlanOptions(
        prune=prune, targets=flags["targets"], replace=replace, accept_source=accept_source
    )
    try:
        _apply(
            plan_file,
            shape=shape,
            auto_approve=auto_approve,
            lock_timeout=lock_timeout,
            idle=idle_wait(wait_for_idle),
            wait_runs=wait_runs or 0.0,
            listener=listener,
            flags=flags,
        )
    except JobspecError as exc:
        if isinstance(listener, JsonListener):
            listener.emit("error", message=exc.message, hint=exc.hint)
        raise


def _apply(
    plan_file: str | None,
    *,
    shape: PlanOptions,
    auto_approve: bool,
    lock_timeout: float,
    idle: IdleWait,
    wait_runs: float,
    listener: HumanListener | JsonListener,
    flags: ConnectionFlags,
) -> None:
    """Read the plan file if any, take the run's path (`server_run`), apply, report."""
    from pathlib import Path

    from jobspec import views
    from jobspec.commands.apply import ApplyOptions, apply as run_apply
    from jobspec.commands.planfiles import read_plan_file
    from jobspec.errors import UsageError
    from jobspec.firstrun import RunWait
    from jobspec.views.listeners import JsonListener

    saved = read_plan_file(Path(plan_file)) if plan_file else None
    run = server_run(specs=Specs.TO_COMPARE if saved else Specs.REQUIRED, **flags)
    if saved is None and not auto_approve and not sys.stdin.isatty():
        raise UsageError(
            "not on a terminal, so there is nobody to confirm the plan",
            hint="pass --auto-approve in pipelines, or apply a reviewed plan file",
        )
    options = ApplyOptions(
        concurrency=run.settings.concurrency,
        settle=run.settings.clone_settle,
        lock_timeout=lock_timeout,
        plan=shape,
        idle=idle,
        runs=RunWait(timeout=wait_runs, hold_timeout=idle.timeout),
    )
    desired = run.desired if run.specs_found else None
    try:
        outcome = run.with_api(
            lambda api: run_apply(
                api, run.store, desired=desired, saved=saved, options=options, listener=listener
            )
        )
    except Interrupted as stop:
        stopped = views.apply_interrupted(
            stop.signal_name,
            steps=listener.tally.steps,
            finished=listener.tally.finished,
            total=listener.tally.total,
            saved_plan=saved is not None,
        )
        if isinstance(listener, JsonListener):
            listener.emit("error", message=stopped.err.strip(), hint=None)
        show(stopped)
        sys.exit(stop.exit_code)
    if isinstance(listener, JsonListener):
        listener.emit("summary", **views.apply_result_fields(outcome.result))
    elif outcome.result is not None:
        show(views.apply_summary(outcome.result))
    if outcome.result is not None and not outcome.result.ok:
        sys.exit(1)


COMMANDS = (apply,)
