"""The flags commands share, the global options, and the click classes that carry them.

Global options (-v, --log-level, --no-color, --config) are taken before or after the command
name; the server and connection flags are what every command that talks to the server takes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import click

from jobspec.cli.runtime import configure_logging, globals_of
from jobspec.errors import JobspecError

if TYPE_CHECKING:
    from pathlib import Path

    from click.shell_completion import CompletionItem

    from jobspec.idle import IdleWait

F = TypeVar("F", bound=Callable[..., Any])


CREDENTIALS_EPILOG = (
    "Credentials come from the environment only, one kind: JOBSPEC_USERNAME and "
    "JOBSPEC_PASSWORD, or JOBSPEC_CLIENT_ID and JOBSPEC_CLIENT_SECRET, or JOBSPEC_TOKEN. The "
    "server: --server, else JOBSPEC_SERVER, else `server` in jobspec.toml."
)
"""The epilog of every command that calls the server: what it needs that no flag gives."""


def format_option(choices: list[str], *, default: str, help: str | None = None) -> Callable[[F], F]:
    """`--format`, as every command that prints something takes it."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help=help,
    )


def _on_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        found = globals_of(ctx)
        found.verbose += value
        configure_logging(found)


def _on_log_level(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        found = globals_of(ctx)
        found.log_level = value
        configure_logging(found)


def _on_no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        globals_of(ctx).no_color = True


def _on_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        globals_of(ctx).config = value


VERBOSE = click.option(
    "-v",
    "--verbose",
    count=True,
    expose_value=False,
    callback=_on_verbose,
    help="Log more to stderr (-v info, -vv debug).",
)
_LOG_LEVEL = click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    expose_value=False,
    callback=_on_log_level,
    help="Log level for stderr (overrides -v).",
)
NO_COLOR = click.option(
    "--no-color",
    is_flag=True,
    expose_value=False,
    callback=_on_no_color,
    help="No colour in output (as does NO_COLOR=1).",
)
_CONFIG = click.option(
    "--config",
    default=None,
    type=click.Path(dir_okay=False),
    expose_value=False,
    callback=_on_config,
    help="Config file [default: ./jobspec.toml if present].",
)


def global_options(func: F) -> F:
    """-v, --log-level, --no-color and --config: taken before or after the command name."""
    for option in (_CONFIG, NO_COLOR, _LOG_LEVEL, VERBOSE):
        func = option(func)
    return func


def config_path() -> Path | None:
    from pathlib import Path

    given = globals_of(click.get_current_context()).config
    return Path(given) if given else None


class Command(click.Command):
    """A command that also takes the global options after its name (`jobspec plan -v`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        global_options(self)


_ABBREVIATIONS = ("e.g.", "i.e.", "vs.")


def _first_sentence(command: click.Command) -> str:
    """A command's short help (its first sentence) whole, for a group's command list.

    click ends the sentence at the first period before a word that is not lowercase, which
    cuts "… (e.g. PostgreSQL)." after "(e.g."; the abbreviations above never end it here.
    """
    if command.short_help or not command.help:
        return command.get_short_help_str(limit=1_000)
    words = command.help.partition("\n\n")[0].split()
    if words and words[0] == "\b":
        words = words[1:]
    for index, word in enumerate(words):
        if word.endswith(".") and not word.lstrip("(").lower().endswith(_ABBREVIATIONS):
            return " ".join(words[: index + 1])
    return " ".join(words)


class Group(click.Group):
    """A group whose commands take the global options, and whose command list shows each
    command's first sentence whole (click cuts it to the terminal width with `...`)."""

    command_class = Command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, _first_sentence(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


Group.group_class = Group  # subgroups (`state`) are groups of the same kind


class Root(Group):
    """The `jobspec` group. Exit codes mean one thing each: 0 done, 2 changes (`plan
    --detailed-exitcode`) or drift, 1 anything else, usage errors included (click's own code
    for those is 2, which a pipeline would read as "changes")."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: object,
    ) -> object:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            exc.show()
            sys.exit(1)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class ServerFlags(TypedDict):
    """The flags `server_options` adds, as click passes them."""

    specs_dir: str | None
    state_path: str | None
    server: str | None
    insecure: bool
    concurrency: int | None


class ConnectionFlags(ServerFlags):
    """The flags `connection_options` adds: those and `--target`."""

    targets: tuple[str, ...]


def complete_address(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion of addresses (`--target`, `state show`, …): those in the specs and in
    the state file, as the command's own --specs, --state and --config would find them.

    Completion must never print or fail, so whatever cannot be read offers nothing; a
    PostgreSQL state is not read (a tab press must not wait on a database).
    """
    import os
    from pathlib import Path

    from click.shell_completion import CompletionItem

    from jobspec.settings import specs_location, state_location
    from jobspec.spec import collect_problems
    from jobspec.state import open_state_store

    found: dict[str, str] = {}
    config = globals_of(ctx).config
    config_path = Path(config) if config else None
    try:
        specs = specs_location(
            flag=ctx.params.get("specs_dir"), config_path=config_path, env=os.environ
        )
        desired, _ = collect_problems(specs)
        found.update((address, "spec") for address in desired)
    except (JobspecError, OSError):
        pass
    try:
        where = state_location(
            env=os.environ, flag=ctx.params.get("state_path"), config_path=config_path
        )
        if not isinstance(where, str):  # a path, not a postgresql:// URL
            for address in open_state_store(where).read().entries:
                found[address] = "spec, state" if address in found else "state"
    except (JobspecError, OSError):
        pass
    return [
        CompletionItem(address, help=origin)
        for address, origin in sorted(found.items())
        if address.startswith(incomplete)
    ]


def server_options(func: F) -> F:
    """Flags shared by every command that talks to the server and reads state."""
    options = [
        click.option(
            "--specs",
            "specs_dir",
            default=None,
            metavar="DIR",
            help="Spec directory [default: `specs` in jobspec.toml, else specs].",
        ),
        click.option(
            "--state",
            "state_path",
            default=None,
            metavar="FILE|URL",
            help="State file or postgresql:// URL [default: $JOBSPEC_STATE, else `state` in "
            "jobspec.toml, else jobspec.state.json].",
        ),
        click.option(
            "--server",
            default=None,
            metavar="URL",
            help="DryvIQ server root (else JOBSPEC_SERVER).",
        ),
        click.option(
            "--insecure", is_flag=True, help="Allow plain http:// to a non-loopback server."
        ),
        click.option(
            "--concurrency",
            default=None,
            type=click.IntRange(1, 64),
            metavar="N",
            help="Requests in flight [default: 8].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def connection_options(func: F) -> F:
    """`server_options` and `--target`, for the commands that plan (generate and import
    select jobs by id, so they take no `--target`)."""
    func = click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDRESS",
        shell_complete=complete_address,
        help="Only this address (repeatable).",
    )(func)
    return server_options(func)


def ownership_options(func: F) -> F:
    """`--replace` and `--accept-source-drift`, as plan and apply take them."""
    func = click.option(
        "--accept-source-drift",
        "accept_source",
        multiple=True,
        metavar="ADDRESS",
        shell_complete=complete_address,
        help="Record that ADDRESS's source changed and its clone stays as it is (repeatable).",
    )(func)
    return click.option(
        "--replace",
        "replace",
        multiple=True,
        metavar="ADDRESS",
        shell_complete=complete_address,
        help="Clone ADDRESS afresh; its current clone is retired as superseded (repeatable).",
    )(func)


_LOCK_TIMEOUT_HELP = (
    "Seconds (or a duration: 2m …) to wait for the state lock (0: fail at once, naming the holder)."
)


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """Seconds from a duration, `90`, `90s`, `10m`, `1.5h`, `2d` (`durations`: the grammar the
    spec's intervals use too); a click callback, so any click version. For every option that
    takes a time to wait (`--wait-for-idle`, `--wait`, `--lock-timeout`)."""
    from jobspec.durations import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        name = param.opts[0] if param.opts else "the option"
        optional = bool(getattr(param, "_flag_needs_value", False))  # `--opt[=VALUE]`
        again = (
            f"; to wait the default time, put {name} after the plan file, or write {name}=SECONDS"
            if optional
            else ""
        )
        raise click.BadParameter(f"{exc}{again}", ctx=ctx, param=param) from None


lock_timeout_option = click.option(
    "--lock-timeout",
    default="0",
    show_default=True,
    callback=duration,
    metavar="SECONDS",
    help=_LOCK_TIMEOUT_HELP,
)
"""`--lock-timeout`, as every command that takes the state lock has it."""


def idle_wait(timeout: float | None) -> IdleWait:
    """What `--wait-for-idle` asks of deletes: every one waits, or only the specs' own."""
    from jobspec.idle import IdleWait

    return IdleWait() if timeout is None else IdleWait(timeout=timeout, every_delete=True)


def state_option(func: F) -> F:
    return click.option(
        "--state",
        "state_path",
        default=None,
        metavar="FILE|URL",
        help="State file or postgresql:// URL [default: $JOBSPEC_STATE, else `state` in "
        "./jobspec.toml, else jobspec.state.json].",
    )(func)


full_plan_url_option = click.option(
    "--full-plan-url",
    "full_plan_url",
    default=None,
    metavar="URL",
    help="With --format markdown: where the whole plan is (a CI artifact); a comment cut "
    "for length links it.",
)
"""`--full-plan-url`, as plan and show take it."""


def check_full_plan_url(url: str | None, output_format: str) -> None:
    """`--full-plan-url` is an http(s) URL, and only for the markdown comment. Checked when
    the command runs, not as it is parsed: a pipeline's line holds `$PLAN_URL` until then."""
    from urllib.parse import urlsplit

    if url is None:
        return
    if output_format != "markdown":
        raise click.UsageError("--full-plan-url needs --format markdown")
    if urlsplit(url).scheme not in ("http", "https") or any(c.isspace() for c in url):
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="'--full-plan-url'")
