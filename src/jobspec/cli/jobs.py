"""`jobs`: the live jobs, filtered as `generate` filters them, with what each is to jobspec;
and the connection and path filters both commands take."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

import click

from jobspec.cli.options import (
    CREDENTIALS_EPILOG,
    Command,
    F,
    ServerFlags,
    format_option,
    server_options,
)
from jobspec.cli.run import Specs, server_run
from jobspec.cli.runtime import report_errors, show

if TYPE_CHECKING:
    from jobspec.jobroles import JobFilter


def job_filter_options(command: F) -> F:
    """The selection `generate` and `jobs` share: `--query`, `--category`, `--kind`,
    `--status`, `--connection`, `--source-connection`, `--destination-connection`,
    `--path-prefix`."""
    for option in reversed(
        [
            click.option(
                "--query", default=None, help="Jobs the server finds for TEXT (its `q` filter)."
            ),
            click.option(
                "--category",
                default=None,
                metavar="NAME|ID",
                help="Jobs in this category (name or id).",
            ),
            click.option(
                "--kind", default=None, metavar="KIND", help="Jobs of this kind (e.g. transfer)."
            ),
            click.option(
                "--status",
                default=None,
                metavar="STATUS",
                help="Jobs in this status (e.g. idle, failed).",
            ),
            click.option(
                "--connection",
                default=None,
                metavar="ID",
                help="Jobs that use this connection (source or destination).",
            ),
            click.option(
                "--source-connection",
                default=None,
                metavar="ID",
                help="Jobs whose source uses this connection.",
            ),
            click.option(
                "--destination-connection",
                default=None,
                metavar="ID",
                help="Jobs whose destination uses this connection.",
            ),
            click.option(
                "--path-prefix",
                default=None,
                metavar="PATH",
                help="Jobs with a path in this "
                "folder (on the side the connection flags name, else either side).",
            ),
        ]
    ):
        command = option(command)
    return command


def job_filter(
    connection: str | None,
    source_connection: str | None,
    destination_connection: str | None,
    path_prefix: str | None,
) -> JobFilter:
    from jobspec.jobroles import JobFilter

    return JobFilter(
        connection=connection,
        source_connection=source_connection,
        destination_connection=destination_connection,
        path_prefix=path_prefix,
    )


@click.command("jobs", cls=Command, epilog=CREDENTIALS_EPILOG)
@job_filter_options
@format_option(["text", "json"], default="text")
@server_options
@report_errors
def jobs(
    query: str | None,
    category: str | None,
    kind: str | None,
    status: str | None,
    connection: str | None,
    source_connection: str | None,
    destination_connection: str | None,
    path_prefix: str | None,
    output_format: str,
    **flags: Unpack[ServerFlags],
) -> None:
    """List live jobs (all, or those the filters select) and what each is to jobspec: the
    clone, original or source of an address, or unmanaged. Read-only.

    \b
    Example:
      jobspec jobs --connection 5dc5e3f0a1b24c6d8e9f0a1b2c3d4e5f --format json
    """
    from jobspec import views
    from jobspec.commands.jobs import list_jobs
    from jobspec.errors import UsageError
    from jobspec.generate import Selection

    where = job_filter(connection, source_connection, destination_connection, path_prefix)
    selection = Selection(query=query, category=category, kind=kind, status=status, where=where)
    for flag, value in selection.filters.items():
        if not value.strip():
            raise UsageError(f"{flag} needs a value that is not blank")
    run = server_run(specs=Specs.IF_PRESENT, **flags)
    desired, state = run.desired, run.store.read()
    listed = run.with_api(
        lambda api: list_jobs(api, selection=selection, state=state, desired=desired)
    )
    show(
        views.jobs_listed(
            listed.jobs, roles=listed.roles, listed=listed.listed, output_format=output_format
        )
    )


COMMANDS = (jobs,)
