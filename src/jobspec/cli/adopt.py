"""Adopting jobs that exist: `import` (one job, or a file of them) and `generate` (specs)."""

from __future__ import annotations

from typing import Unpack

import click

from jobspec.cli.jobs import job_filter, job_filter_options
from jobspec.cli.options import (
    CREDENTIALS_EPILOG,
    Command,
    ServerFlags,
    lock_timeout_option,
    server_options,
)
from jobspec.cli.run import Specs, server_run
from jobspec.cli.runtime import SCRUB, report_errors, show


@click.command("import", cls=Command, epilog=CREDENTIALS_EPILOG)
@click.argument("address", required=False)
@click.argument("job_id", required=False)
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False),
    help="Import many: a YAML (address: job_id) or CSV (address,job_id) file; all rows or none.",
)
@click.option(
    "--discover",
    is_flag=True,
    help="Adopt, for every spec state does not know, the live job bearing its clone name "
    "(after a lost state); each checked as import checks one.",
)
@server_options
@lock_timeout_option
@click.option(
    "--force",
    is_flag=True,
    help="Adopt a job whose kind or unchanged endpoints differ from the source's (plans say so).",
)
@report_errors
def import_(
    address: str | None,
    job_id: str | None,
    from_file: str | None,
    discover: bool,
    lock_timeout: float,
    force: bool,
    **flags: Unpack[ServerFlags],
) -> None:
    """Adopt an existing job as ADDRESS's clone; the next plan verifies its fields.

    Refused for a job state already holds or a spec clones, and (unless --force) for one whose
    kind or endpoints the spec does not change differ from the source's. With --from FILE,
    every row is checked first, then all are imported under one lock, or none.

    \b
    Example:
      jobspec import finance-archive 0f3ae9d1c2b34a5f8e7d6c5b4a392817
    """
    from pathlib import Path

    from jobspec.commands import adopt
    from jobspec.errors import UsageError
    from jobspec.views import batch_imported, discovered, imported

    if discover:
        if address is not None or from_file is not None or force:
            raise UsageError("--discover takes no ADDRESS JOB_ID, --from or --force")
        run = server_run(**flags)
        desired = run.desired
        found = run.with_api(
            lambda api: adopt.import_discovered(
                api, run.store, desired=desired, lock_timeout=lock_timeout
            )
        )
        show(discovered(found.imported, found.left))
        return
    if from_file is not None:
        if address is not None:
            raise UsageError("give ADDRESS JOB_ID or --from FILE, not both")
        rows = adopt.read_import_file(Path(from_file))
        run = server_run(**flags)
        desired = run.desired
        done = run.with_api(
            lambda api: adopt.import_batch(
                api,
                run.store,
                desired=desired,
                rows=rows,
                lock_timeout=lock_timeout,
                force=force,
                scrub=SCRUB.known,
            )
        )
        show(batch_imported(done.imported, done.already))
        return
    if address is None or job_id is None:
        raise UsageError(
            "give ADDRESS JOB_ID, or --from FILE", hint="e.g. `jobspec import finance c4d8…`"
        )
    run = server_run(**flags)
    desired = run.desired
    entry = run.with_api(
        lambda api: adopt.import_job(
            api,
            run.store,
            desired=desired,
            address=address,
            job_id=job_id,
            lock_timeout=lock_timeout,
            force=force,
            scrub=SCRUB.known,
        )
    )
    show(imported(address, entry))


@click.command(cls=Command, epilog=CREDENTIALS_EPILOG)
@click.argument("job_ids", nargs=-1, metavar="[JOB_ID]...")
@job_filter_options
@click.option("--all", "every", is_flag=True, help="Every job not managed yet.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Add this override to every spec (repeatable; VALUE is YAML), e.g. "
    "transfer.destination.connection.id=5dc5….",
)
@click.option(
    "--name",
    "name_template",
    default=None,
    metavar="TEMPLATE",
    help="Clone names, from {name}, {id} and {address} [default: jobspec's `<name> (<address>)`].",
)
@click.option(
    "--original",
    type=click.Choice(["manual", "delete", "keep"]),
    default="manual",
    show_default=True,
    help="What each spec does with its job once the clone exists.",
)
@click.option(
    "--out",
    "out_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write to FILE (e.g. specs/generated.yaml) instead of stdout; never over a file "
    "without --force.",
)
@click.option("--force", is_flag=True, help="Replace --out FILE (its own specs are regenerated).")
@server_options
@report_errors
def generate(
    job_ids: tuple[str, ...],
    query: str | None,
    category: str | None,
    kind: str | None,
    status: str | None,
    connection: str | None,
    source_connection: str | None,
    destination_connection: str | None,
    path_prefix: str | None,
    every: bool,
    sets: tuple[str, ...],
    name_template: str | None,
    original: str,
    out_path: str | None,
    force: bool,
    **flags: Unpack[ServerFlags],
) -> None:
    """Write specs for jobs that exist: job ids, or the jobs filters select, or --all.

    Jobs state manages or a spec already clones are left out (stderr says which and why).
    Each spec gets an address from its job's name, a comment describing the job, and the
    --set overrides; the output is in canonical form and plans without edits.

    \b
    Example:
      jobspec generate --category Finance --out specs/finance.yaml
    """
    from pathlib import Path

    from jobspec import views
    from jobspec.commands import generate as command
    from jobspec.generate import Selection
    from jobspec.model import OriginalPolicy

    where = job_filter(connection, source_connection, destination_connection, path_prefix)
    selection = Selection(
        ids=job_ids,
        query=query,
        category=category,
        kind=kind,
        status=status,
        every=every,
        where=where,
    )
    out = Path(out_path) if out_path else None
    # no spec folder yet is where adoption starts; specs there must be valid (their sources
    # and clone names are what generate leaves out)
    run = server_run(specs=Specs.IF_PRESENT, **flags)
    desired, state = run.desired, run.store.read()
    outcome = run.with_api(
        lambda api: command.generate_specs(
            api,
            selection=selection,
            state=state,
            desired=desired,
            sets=list(sets),
            name_template=name_template,
            original=OriginalPolicy(original),
            out=out,
            force=force,
            scrub=SCRUB.known,
        )
    )
    show(views.generated(outcome.generated, text=outcome.text, listed=outcome.listed, out=out_path))


COMMANDS = (import_, generate)
