"""`plan` (specs vs state vs the live jobs) and `show` (a saved plan)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Unpack

import click

from jobspec.cli.options import (
    CREDENTIALS_EPILOG,
    Command,
    ConnectionFlags,
    check_full_plan_url,
    connection_options,
    format_option,
    full_plan_url_option,
    ownership_options,
)
from jobspec.cli.run import server_run
from jobspec.cli.runtime import SCRUB, painter, report_errors, show

if TYPE_CHECKING:
    from jobspec.api import Api
    from jobspec.plan import Plan


@click.command(cls=Command, epilog=CREDENTIALS_EPILOG)
@connection_options
@click.option(
    "--out",
    "out_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Save the plan for `jobspec apply FILE`.",
)
@format_option(["text", "json", "markdown"], default="text")
@full_plan_url_option
@click.option("--prune", is_flag=True, help="Plan to retire the clones of removed specs.")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors."
)
@ownership_options
@report_errors
def plan(
    out_path: str | None,
    output_format: str,
    full_plan_url: str | None,
    prune: bool,
    detailed_exitcode: bool,
    replace: tuple[str, ...],
    accept_source: tuple[str, ...],
    **flags: Unpack[ConnectionFlags],
) -> None:
    """Show what apply would do: specs vs state vs the live jobs. Changes nothing.

    \b
    Example:
      jobspec plan --out plan.json --detailed-exitcode
    """
    from pathlib import Path

    from jobspec import views
    from jobspec.commands.observe import has_backup, observe
    from jobspec.commands.planfiles import save_plan_file
    from jobspec.plan import PlanOptions
    from jobspec.render import plain

    check_full_plan_url(full_plan_url, output_format)
    run = server_run(**flags)
    desired, state = run.desired, run.store.read()
    locked_by = run.store.lock_info()  # plan takes no lock: it says who holds it

    async def planned(api: Api) -> Plan:
        observed = await observe(
            api,
            desired=desired,
            state=state,
            backup=has_backup(run.store),
            options=PlanOptions(
                prune=prune, targets=run.targets, replace=replace, accept_source=accept_source
            ),
        )
        return observed.plan

    result = run.with_api(planned)
    show(views.interrupted_notes(state.pending_intents()))
    paint = painter() if output_format == "text" else None
    shown = views.plan_view(
        result,
        output_format=output_format,
        paint=paint or plain,
        full_plan_url=full_plan_url,
        locked_by=locked_by,
    )
    show(shown, color=paint is not None)
    if out_path:
        save_plan_file(result, Path(out_path), scrub=SCRUB.known)
        show(views.plan_saved(out_path))
    if detailed_exitcode and result.has_changes:
        sys.exit(2)


@click.command("show", cls=Command)
@click.argument("plan_file", type=click.Path(dir_okay=False))
@format_option(["text", "json", "markdown"], default="text")
@full_plan_url_option
@report_errors
def show_plan(plan_file: str, output_format: str, full_plan_url: str | None) -> None:
    """Print a saved plan file. Calls nothing.

    \b
    Example:
      jobspec show plan.json --format markdown
    """
    from pathlib import Path

    from jobspec.commands.planfiles import read_plan_file
    from jobspec.errors import UsageError
    from jobspec.plan import PlanTampered
    from jobspec.render import plain
    from jobspec.views import plan_view

    check_full_plan_url(full_plan_url, output_format)
    try:
        saved = read_plan_file(Path(plan_file))
    except UsageError as exc:
        # read_plan_file words a broken seal for apply ("cannot be applied"); show applies
        # nothing, but shows no plan apply would refuse either
        broken = exc.__cause__
        if not isinstance(broken, PlanTampered):
            raise
        raise UsageError(
            f"not showing {plan_file}: apply would refuse it, as {broken}",
            hint="show and apply take plans as `jobspec plan --out` made them, unedited; "
            "plan again",
        ) from broken
    paint = painter() if output_format == "text" else None
    shown = plan_view(
        saved, output_format=output_format, paint=paint or plain, full_plan_url=full_plan_url
    )
    show(shown, color=paint is not None)


COMMANDS = (plan, show_plan)
