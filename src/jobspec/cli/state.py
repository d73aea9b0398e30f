"""The state commands (`state list|show|rm|mv|set-server|restore|push|pull`) and `unlock`.

None of them calls the server: each opens the store alone (`run.open_store`).
"""

from __future__ import annotations

import click

from jobspec.cli.options import (
    Command,
    Group,
    complete_address,
    format_option,
    lock_timeout_option,
    state_option,
)
from jobspec.cli.run import open_store
from jobspec.cli.runtime import report_errors, show


@click.group(cls=Group)
def state() -> None:
    """Inspect, edit or move the state (a file, or PostgreSQL). Never touches the server.

    \b
    Example:
      jobspec state list --state postgresql://ci@db.example.com/jobspec
    """


@state.command("list")
@state_option
@format_option(["text", "json"], default="text")
@report_errors
def state_list(state_path: str | None, output_format: str) -> None:
    """One line per address: clone id, source id, how the original was retired.

    `--format json` prints one object: serial, lineage, server and every entry whole.

    \b
    Example:
      jobspec state list --format json
    """
    from jobspec.views import state_list as view

    show(view(open_store(state_path).read(), output_format=output_format))


@state.command("show")
@click.argument("address", shell_complete=complete_address)
@state_option
@report_errors
def state_show(address: str, state_path: str | None) -> None:
    """The whole state entry of one address, as JSON.

    \b
    Example:
      jobspec state show finance-archive
    """
    from jobspec.errors import UsageError
    from jobspec.views import state_entry

    entry = open_store(state_path).read().entries.get(address)
    if entry is None:
        raise UsageError(f"no state entry for {address}", hint="see `jobspec state list`")
    show(state_entry(entry))


@state.command("rm")
@click.argument("address")
@state_option
@lock_timeout_option
@report_errors
def state_rm(address: str, state_path: str | None, lock_timeout: float) -> None:
    """Forget an address without touching the server (its clone stays as it is).

    \b
    Example:
      jobspec state rm finance-archive
    """
    from jobspec.commands.state import forget
    from jobspec.views import state_forgotten

    clone = forget(open_store(state_path), address=address, lock_timeout=lock_timeout)
    show(state_forgotten(address, clone))


@state.command("mv")
@click.argument("old", shell_complete=complete_address)
@click.argument("new")
@state_option
@lock_timeout_option
@report_errors
def state_mv(old: str, new: str, state_path: str | None, lock_timeout: float) -> None:
    """Rename an address in state: its clone moves with it, and no new clone is made.

    Rename the address in the spec files too; the next plan then sees the same clone.

    \b
    Example:
      jobspec state mv finance-archive finance-archive-2026
    """
    from jobspec.commands.state import move_address
    from jobspec.views import state_moved

    clone = move_address(open_store(state_path), old=old, new=new, lock_timeout=lock_timeout)
    show(state_moved(old, new, clone))


@state.command("set-server")
@click.argument("url")
@state_option
@lock_timeout_option
@report_errors
def state_set_server(url: str, state_path: str | None, lock_timeout: float) -> None:
    """Re-point the state at URL after the DryvIQ server really moved (same jobs, new address).

    A state records its server and refuses any other: the same job ids on another server (a
    staging copy restored from production) are other jobs. Never use this to share a state.

    \b
    Example:
      jobspec state set-server https://dryviq-new.example.com/
    """
    from jobspec.commands.state import repoint_server
    from jobspec.netaddr import server_identity
    from jobspec.settings import normalize_server
    from jobspec.views import state_repointed

    old = repoint_server(open_store(state_path), server=url, lock_timeout=lock_timeout)
    show(state_repointed(old, server_identity(normalize_server(url))))


@state.command("restore")
@state_option
@lock_timeout_option
@report_errors
def state_restore(state_path: str | None, lock_timeout: float) -> None:
    """Make the state file's backup the state again, in a new serial epoch.

    For a state file that is damaged or wrong. The replaced snapshot and journal are kept
    beside it; plans saved before the restore are refused afterwards.

    \b
    Example:
      jobspec state restore
    """
    from jobspec.commands.state import restore_backup
    from jobspec.views import state_restored

    done = restore_backup(open_store(state_path), lock_timeout=lock_timeout)
    show(state_restored(done.restored, backup=done.backup))


_FORCE_HELP = "Replace a state of another lineage, or a newer one (its content is lost)."


@state.command("push")
@click.argument("source")
@state_option
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@lock_timeout_option
@report_errors
def state_push(source: str, state_path: str | None, force: bool, lock_timeout: float) -> None:
    """Copy the whole state in SOURCE (a state file; `-`: stdin) into the state (e.g. PostgreSQL).

    Refused when the two are different states (lineage) or SOURCE is older, unless --force.

    \b
    Example:
      jobspec state push saved.state.json --state postgresql://ci@db/jobspec
    """
    if source == "-":
        _push_stdin(state_path=state_path, force=force, timeout=lock_timeout)
        return
    _copy_state(
        source=source, target=None, state_path=state_path, force=force, timeout=lock_timeout
    )


@state.command("pull")
@click.argument("target")
@state_option
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@lock_timeout_option
@report_errors
def state_pull(target: str, state_path: str | None, force: bool, lock_timeout: float) -> None:
    """Copy the whole state (e.g. in PostgreSQL) into TARGET (a state file; `-`: stdout).

    Refused when the two are different states (lineage) or TARGET is newer, unless --force.
    `-` prints the state file's text and checks nothing.

    \b
    Example:
      jobspec state pull - > backup.state.json
    """
    if target == "-":
        from jobspec.commands.state import state_text

        # Unscrubbed, as a pulled file is: the state holds no secret, and a scrubbed copy
        # would be a state file with a job's words replaced, which nothing would notice.
        click.echo(state_text(open_store(state_path)), nl=False)
        return
    _copy_state(
        source=None, target=target, state_path=state_path, force=force, timeout=lock_timeout
    )


def _push_stdin(*, state_path: str | None, force: bool, timeout: float) -> None:
    import sys

    from jobspec.commands.state import push_text
    from jobspec.errors import UsageError
    from jobspec.views import state_copied

    if sys.stdin.isatty():
        raise UsageError(
            "`state push -` reads a state file from stdin, which is a terminal",
            hint="pipe one in: `jobspec state push - < saved.state.json`",
        )
    text = sys.stdin.read()
    done = push_text(open_store(state_path), text=text, force=force, lock_timeout=timeout)
    show(state_copied(done.origin, done.destination, done.transfer))


def _copy_state(
    *, source: str | None, target: str | None, state_path: str | None, force: bool, timeout: float
) -> None:
    from jobspec.commands.state import copy_state
    from jobspec.views import state_copied

    done = copy_state(
        open_store(state_path), source=source, target=target, force=force, lock_timeout=timeout
    )
    show(state_copied(done.origin, done.destination, done.transfer))


@click.command(cls=Command)
@click.argument("lock_id")
@state_option
@report_errors
def unlock(lock_id: str, state_path: str | None) -> None:
    """Break the state lock on purpose (only if LOCK_ID matches the holder's id).

    \b
    Example:
      jobspec unlock 7b1e
    """
    from jobspec.views import lock_broken

    show(lock_broken(open_store(state_path).unlock(lock_id)))


COMMANDS = (state, unlock)
