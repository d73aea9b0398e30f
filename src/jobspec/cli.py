"""Argument parsing and wiring: the one place that prints and chooses exit codes.

Each command resolves its inputs (flags, environment, `jobspec.toml`), calls one sequence in
`operations`, and prints what `views` makes of the result. Heavy modules (pydantic models,
httpx, ruamel, uvicorn, rich) are imported inside the commands so that `jobspec --help` starts
fast; their types are imported under TYPE_CHECKING, so mypy still checks every use.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypedDict, TypeVar, Unpack

import click

from jobspec import __version__
from jobspec.errors import JobspecError
from jobspec.scrub import Scrubber, shorten, url_secrets

if TYPE_CHECKING:
    from pathlib import Path

    from click.shell_completion import CompletionItem
    from rich.progress import Progress, TaskID

    from jobspec.api import Api
    from jobspec.idle import IdleWait
    from jobspec.model import DesiredJob
    from jobspec.plan import Plan, Step
    from jobspec.settings import Settings
    from jobspec.state import LockInfo, StateStore
    from jobspec.views import Screen

SCRUB = Scrubber()
"""The run's one scrubber: every line printed or logged passes through it. Secrets from the
environment are added at start-up, the state URL's when it is read, and tokens as the client
is issued them."""
SECRET_VARIABLES = (
    "JOBSPEC_PASSWORD",
    "JOBSPEC_CLIENT_SECRET",
    "JOBSPEC_TOKEN",
    "SKYSYNC_PASSWORD",
    "PGPASSWORD",
    "JOBSPEC_EMULATOR_PASSWORD",
    "JOBSPEC_EMULATOR_CLIENT_SECRET",
)
LINE_LIMIT = 2_000  # the longest error line shown whole; server text inside is bounded already

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class _Interrupted(Exception):
    """Ctrl-C (SIGINT) or a pipeline's cancel (SIGTERM) stopped the run's event loop.

    Raised once the loop has unwound: every `with store.lock()` has released its lock and
    closed its session (journal records already written stay; none is half-written, since a
    record is written between two awaits).
    """

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = exit_code


def _report_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a `JobspecError` into `error: …` / `hint: …` and its exit code; bugs keep tracebacks."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except _Interrupted as stop:
            _echo(f"interrupted by {stop.signal_name}; the state lock is released", err=True)
            sys.exit(stop.exit_code)
        except JobspecError as exc:
            _echo(f"error: {exc.message}", err=True)
            if exc.hint:
                _echo(f"hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def _echo(text: str, *, err: bool = False, nl: bool = True, color: bool | None = None) -> None:
    """Print through the scrubber; on stderr, lines are also bounded in length."""
    text = SCRUB(text)
    if err:
        text = "\n".join(shorten(line, LINE_LIMIT) for line in text.split("\n"))
    click.echo(text, nl=nl, err=err, color=color)


def _show(screen: Screen, *, color: bool = False) -> None:
    """Print a view: its result on stdout, its notes on stderr. `color` keeps its ANSI codes
    off a terminal (FORCE_COLOR); click strips them there otherwise."""
    if screen.out:
        _echo(screen.out, nl=False, color=True if color else None)
    if screen.err:
        _echo(screen.err, nl=False, err=True)


def _format_option(
    choices: list[str], *, default: str, help: str | None = None
) -> Callable[[F], F]:
    """`--format`, as every command that prints something takes it."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help=help,
    )


@dataclass
class _Globals:
    """The global options, wherever on the line they were given (before or after the command)."""

    verbose: int = 0
    log_level: str | None = None
    no_color: bool = False
    config: str | None = None


def _globals(ctx: click.Context) -> _Globals:
    meta = ctx.find_root().meta
    found = meta.get("jobspec.globals")
    if not isinstance(found, _Globals):
        found = meta["jobspec.globals"] = _Globals()
    return found


def _configure_logging(found: _Globals) -> None:
    import logging

    level = found.log_level or {0: None, 1: "info"}.get(found.verbose, "debug")
    if level:
        logging.basicConfig(
            level=level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
            force=True,
        )
        for handler in logging.getLogger().handlers:
            handler.addFilter(_scrub_record)


def _scrub_record(record: Any) -> bool:
    """A log filter: the message, its arguments merged in, scrubbed (a `logging.LogRecord`)."""
    try:
        text = record.getMessage()
    except (TypeError, ValueError):  # arguments that do not fit the format: show both
        text = f"{record.msg} {record.args!r}"
    record.msg = SCRUB(text)
    record.args = ()
    return True


def _on_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        found = _globals(ctx)
        found.verbose += value
        _configure_logging(found)


def _on_log_level(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        found = _globals(ctx)
        found.log_level = value
        _configure_logging(found)


def _on_no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _globals(ctx).no_color = True


def _on_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _globals(ctx).config = value


_VERBOSE = click.option(
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
_NO_COLOR = click.option(
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


def _global_options(func: F) -> F:
    """-v, --log-level, --no-color and --config: taken before or after the command name."""
    for option in (_CONFIG, _NO_COLOR, _LOG_LEVEL, _VERBOSE):
        func = option(func)
    return func


def _config_path() -> Path | None:
    from pathlib import Path

    given = _globals(click.get_current_context()).config
    return Path(given) if given else None


class _Command(click.Command):
    """A command that also takes the global options after its name (`jobspec plan -v`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _global_options(self)


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


class _Group(click.Group):
    """A group whose commands take the global options, and whose command list shows each
    command's first sentence whole (click cuts it to the terminal width with `...`)."""

    command_class = _Command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, _first_sentence(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


_Group.group_class = _Group  # subgroups (`state`) are groups of the same kind


class _Root(_Group):
    """The `jobspec` group. Exit codes mean one thing each: 0 done, 2 changes (`plan
    --detailed-exitcode`) or drift, 1 anything else, usage errors included (click's own code
    for those is 2, which a pipeline would read as "changes")."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
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


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jobspec")
@_global_options
def cli() -> None:
    """Declarative DryvIQ transfer jobs: specs in git, `plan` in CI, `apply` in CD."""
    import os

    SCRUB.forget_all()  # a run knows its own secrets, not those of earlier runs in-process
    SCRUB.add(*(os.environ.get(name) for name in SECRET_VARIABLES))
    SCRUB.add(*url_secrets(os.environ.get("JOBSPEC_STATE", "")))


# --- emulator -----------------------------------------------------------------------------------
# (the `emulator` command is registered below)


# The emulator's own --log-level is uvicorn's, so it takes only -v and --no-color of the globals.
@cli.command(cls=click.Command)
@_VERBOSE
@_NO_COLOR
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9090, show_default=True, type=click.IntRange(0, 65535))
@click.option("--username", default="admin", show_default=True, envvar="JOBSPEC_EMULATOR_USERNAME")
@click.option(
    "--password",
    default="admin",
    show_default=True,
    envvar="JOBSPEC_EMULATOR_PASSWORD",
    help="Password for the password grant; the default is refused on a non-loopback --host.",
)
@click.option("--client-id", default=None, envvar="JOBSPEC_EMULATOR_CLIENT_ID")
@click.option(
    "--client-secret",
    default=None,
    envvar="JOBSPEC_EMULATOR_CLIENT_SECRET",
    help="With --client-id, enables the client_credentials grant.",
)
@click.option("--token-ttl", default=3600, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--data",
    "data_path",
    type=click.Path(dir_okay=False),
    help="Keep jobs in this SQLite file across restarts (default: in memory).",
)
@click.option("--demo", is_flag=True, help="Seed a dozen demo jobs with fixed ids (if empty).")
@click.option(
    "--controls/--no-controls", default=True, show_default=True, help="Serve /_emulator/."
)
@click.option(
    "--latency-ms", default=0.0, type=click.FloatRange(min=0), help="Added to every call."
)
@click.option("--spike-rate", default=0.0, type=click.FloatRange(0, 1), help="Latency spike rate.")
@click.option("--spike-ms", default=0.0, type=click.FloatRange(min=0), help="Latency spike length.")
@click.option("--fault-503", default=0.0, type=click.FloatRange(0, 1), help="Rate of 503 replies.")
@click.option("--fault-429", default=0.0, type=click.FloatRange(0, 1), help="Rate of 429 replies.")
@click.option(
    "--fault-drop",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Rate of clone/patch/delete calls done but whose reply is lost.",
)
@click.option("--retry-after", default=1, show_default=True, type=click.IntRange(min=0))
@click.option("--seed", default=None, type=int, help="Seed for reproducible faults.")
@click.option(
    "--run-seconds",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How long a started run lasts before the job is idle again.",
)
@click.option(
    "--auto-interval",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between runs of jobs on schedule mode auto (0: they never start by themselves).",
)
@click.option(
    "--cancel-interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between the sweeps that cancel the runs of deleted jobs.",
)
@click.option(
    "--quirks",
    "quirks",
    multiple=True,
    metavar="NAME[,NAME…]|all",
    help="Switch on server behaviours the docs leave open (repeatable; see below).",
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@_report_errors
def emulator(
    host: str,
    port: int,
    log_level: str,
    data_path: str | None,
    quirks: tuple[str, ...],
    **settings: Any,
) -> None:
    """Run a local DryvIQ-compatible server (jobs API plus /_emulator/ test controls).

    By default it behaves as the API is documented. `--quirks` switches on, one by one, the
    behaviours a real server may show where the docs are silent or it is stricter:

    \b
      summary-replies     every reply but a fields=all GET is a summary
      patch-needs-kind    a PATCH body without the job's kind is refused
      replace-endpoints   an endpoint in a write replaces the old one, and must be whole
      unstable-order      lists without `sort` come in a new order on every request
      deleted-in-lists    deleted jobs stay in lists, with status: deleted
      odd-jobs            lists also hold system jobs jobspec cannot read
      page-cap-100        a page holds at most 100 jobs
      no-total-count      list pages carry no meta.total_count
      status-200          create and clone answer 200, DELETE 200 with a body
      reorder-sets        delete_propagation and days come back in another order
      server-fields-move  execute_on, health, counters … change between reads
      all                 every one of them
    """
    from pathlib import Path

    from jobspec.emulator.config import EmulatorConfig, check_exposure, parse_quirks

    config = EmulatorConfig(
        data_path=Path(data_path) if data_path else None, quirks=parse_quirks(quirks), **settings
    )
    check_exposure(config, host=host)
    _need_extra("emulator", ("starlette", "uvicorn"), what="`jobspec emulator`")

    from jobspec.emulator.server import listen, serve

    sock = listen(host=host, port=port)  # before the banner: a busy port is an error, not a log
    shown = f"[{host}]" if ":" in host else host
    bound = sock.getsockname()[1]
    click.echo(f"jobspec emulator on http://{shown}:{bound}/ (Ctrl-C to stop)", err=True)
    serve(config, sock=sock, log_level=log_level)


def _need_extra(extra: str, modules: tuple[str, ...], *, what: str) -> None:
    """Stop with the exact install command when an optional dependency is missing."""
    from importlib import import_module

    from jobspec.errors import MissingExtra

    missing = []
    for name in modules:
        try:
            import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtra(extra=extra, missing=missing, what=what)


# --- validate -----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--specs",
    "specs_dir",
    default=None,
    help="Directory of *.yaml / *.yml spec files, not searched recursively [default: `specs` "
    "in jobspec.toml, else specs].",
)
@_format_option(
    ["text", "github"], default="text", help="`github` prints GitHub Actions error annotations."
)
@_report_errors
def validate(specs_dir: str | None, output_format: str) -> None:
    """Check the specs offline (YAML, schema, addresses): every problem in one pass.

    Exit 0 when clean, 1 when any problem is found. Never calls the API.
    """
    from jobspec.settings import specs_location
    from jobspec.spec import collect_problems, spec_files
    from jobspec.views import validate_report

    directory = specs_location(flag=specs_dir, config_path=_config_path())
    desired, problems = collect_problems(directory)
    files = 0 if problems else len(spec_files(directory))
    _show(
        validate_report(
            jobs=len(desired), files=files, problems=problems, output_format=output_format
        )
    )
    if problems:
        sys.exit(1)


# --- plan, apply and around them ----------------------------------------------------------------


class ServerFlags(TypedDict):
    """The flags `_server_options` adds, as click passes them."""

    specs_dir: str | None
    state_path: str | None
    server: str | None
    insecure: bool
    concurrency: int | None


class ConnectionFlags(ServerFlags):
    """The flags `_connection_options` adds: those and `--target`."""

    targets: tuple[str, ...]


def _complete_address(
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
    from jobspec.state import FileStateStore

    found: dict[str, str] = {}
    config = _globals(ctx).config
    config_path = Path(config) if config else None
    try:
        specs = specs_location(flag=ctx.params.get("specs_dir"), config_path=config_path)
        desired, _ = collect_problems(specs)
        found.update((address, "spec") for address in desired)
    except (JobspecError, OSError):
        pass
    try:
        where = state_location(
            env=os.environ, flag=ctx.params.get("state_path"), config_path=config_path
        )
        if not isinstance(where, str):  # a path, not a postgresql:// URL
            for address in FileStateStore(where).read().entries:
                found[address] = "spec, state" if address in found else "state"
    except (JobspecError, OSError):
        pass
    return [
        CompletionItem(address, help=origin)
        for address, origin in sorted(found.items())
        if address.startswith(incomplete)
    ]


def _server_options(func: F) -> F:
    """Flags shared by every command that talks to the server and reads state."""
    options = [
        click.option(
            "--specs",
            "specs_dir",
            default=None,
            help="Spec directory [default: `specs` in jobspec.toml, else specs].",
        ),
        click.option(
            "--state",
            "state_path",
            default=None,
            help="State file or postgresql:// URL [default: $JOBSPEC_STATE, else `state` in "
            "jobspec.toml, else jobspec.state.json].",
        ),
        click.option("--server", default=None, help="DryvIQ server root (else JOBSPEC_SERVER)."),
        click.option(
            "--insecure", is_flag=True, help="Allow plain http:// to a non-loopback server."
        ),
        click.option(
            "--concurrency",
            default=None,
            type=click.IntRange(1, 64),
            help="Requests in flight [default: 8].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _connection_options(func: F) -> F:
    """`_server_options` and `--target`, for the commands that plan (generate and import
    select jobs by id, so they take no `--target`)."""
    func = click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDRESS",
        shell_complete=_complete_address,
        help="Only this address (repeatable).",
    )(func)
    return _server_options(func)


@dataclass(frozen=True)
class _Run:
    """What a plan or apply command works with, resolved from flags, environment and config."""

    settings: Settings
    specs_dir: Path
    store: StateStore
    targets: tuple[str, ...]

    def with_api(self, work: Callable[[Api], Awaitable[R]]) -> R:
        """Run `work` with a client for the configured server, on a fresh event loop.

        SIGINT (asyncio's own handling) and SIGTERM cancel the work, so that it unwinds through
        its `finally` blocks (locks released, sessions closed); then `_Interrupted`.
        """
        import asyncio
        import contextlib
        import signal

        from jobspec.client import DryvIQClient

        terminated: list[bool] = []
        done: list[R] = []

        async def go() -> None:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            assert task is not None

            def on_sigterm() -> None:
                terminated.append(True)
                task.cancel()

            # Not possible off the main thread (a test's runner): SIGTERM then stays default.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGTERM, on_sigterm)
            async with DryvIQClient(self.settings, warn=_warn, scrubber=SCRUB) as api:
                done.append(await work(api))

        # The result is handed over outside the task: asyncio.run's SIGINT bookkeeping formats
        # the main task's repr on the way out, result included, which for a 10,000-address
        # plan took about a second.
        try:
            asyncio.run(go())
        except KeyboardInterrupt:
            raise _Interrupted("SIGINT", 130) from None
        except asyncio.CancelledError:
            if terminated:
                raise _Interrupted("SIGTERM", 143) from None
            raise
        return done[0]


def _warn(text: str) -> None:
    _echo(f"warning: {text}", err=True)


def _resolve(*, targets: tuple[str, ...] = (), **flags: Unpack[ServerFlags]) -> _Run:
    import os
    from pathlib import Path

    from jobspec.settings import load_settings, state_location
    from jobspec.state import open_state_store

    settings = load_settings(
        env=os.environ,
        config_path=_config_path(),
        server=flags["server"],
        concurrency=flags["concurrency"],
        insecure=flags["insecure"],
    )
    specs_dir, state_path = flags["specs_dir"], flags["state_path"]
    SCRUB.add(*url_secrets(state_path or ""), *url_secrets(str(settings.state_path)))
    location = (
        settings.state_path if state_path is None else state_location(env={}, flag=state_path)
    )
    return _Run(
        settings=settings,
        specs_dir=Path(specs_dir) if specs_dir else settings.specs_dir,
        store=open_state_store(location),
        targets=targets,
    )


def _load_specs(directory: Path) -> dict[str, DesiredJob]:
    """Every spec problem, printed in full, before anything touches the network."""
    from jobspec.errors import SpecError
    from jobspec.spec import collect_problems
    from jobspec.views import spec_problems

    desired, problems = collect_problems(directory)
    if problems:
        _show(spec_problems(problems))
        raise SpecError(problems)
    return desired


def _no_color() -> bool:
    """--no-color, NO_COLOR (any non-empty value) or TERM=dumb: no colour anywhere."""
    import os

    globals_ = _globals(click.get_current_context())
    return globals_.no_color or bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def _use_color() -> bool:
    """Colour on stdout: never when _no_color(); forced by FORCE_COLOR (CI logs that render
    ANSI); otherwise only on a terminal."""
    import os

    if _no_color():
        return False
    return bool(os.environ.get("FORCE_COLOR")) or sys.stdout.isatty()


def _progress(address: str, message: str) -> None:
    """One timestamped line per step on stderr: readable in CI logs, quiet in stdout."""
    import time

    _echo(f"{time.strftime('%H:%M:%S')} {address}: {message}", err=True)


def _raise_sigterm(signum: int, frame: object) -> None:
    raise _Interrupted("SIGTERM", 143)


@contextmanager
def _prompt_signals() -> Iterator[None]:
    """While a question blocks the event loop, Ctrl-C and SIGTERM raise at once.

    The loop's own handlers (asyncio.run's for SIGINT, `_Run.with_api`'s for SIGTERM) only
    schedule a cancellation, which cannot run while `input()` blocks: the process would keep
    waiting, and holding the state lock. Raising from the prompt unwinds `operations.apply`
    (its `with store.lock()` releases the lock) like any other interruption. The previous
    handlers come back afterwards; the loop's wakeup fd is left as it was. Signal handlers can
    only be set on the main thread: elsewhere nothing changes.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, _raise_sigterm)
    try:
        yield
    finally:
        # None: a handler not set from Python, which cannot be put back; the default then
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous_int is None else previous_int)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous_term is None else previous_term)


class _Tally:
    """How far an apply got, for the report of an interrupted run: steps done, and addresses
    with steps finished out of how many (`total` None: applying had not begun)."""

    def __init__(self) -> None:
        self.steps = 0
        self.finished = 0
        self.total: int | None = None
        self._counted: set[str] = set()

    def begin(self, plan: Plan) -> int:
        """Count the addresses that have steps (`done` also hears the others); their number."""
        self._counted = {action.address for action in plan.actions if action.steps}
        self.total = len(self._counted)
        return self.total

    def step(self) -> None:
        self.steps += 1

    def done(self, address: str) -> bool:
        """One address finished; whether it is one of those counted."""
        counted = address in self._counted
        self.finished += counted
        return counted


class _ApplyListener:
    """Apply as a person sees it: the plan, a question, and a live bar on a terminal (rich) or
    plain timestamped lines elsewhere (CI logs)."""

    def __init__(self, *, auto_approve: bool) -> None:
        self._auto_approve = auto_approve
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self.tally = _Tally()

    def lock_wait(self, holder: LockInfo) -> None:
        from jobspec.views import lock_waiting

        _show(lock_waiting(holder))

    def warning(self, text: str) -> None:
        _echo(f"warning: {text}", err=True)

    def planned(self, plan: Plan) -> None:
        from jobspec.views import plan_view

        color = _use_color()
        _show(plan_view(plan, output_format="text", color=color), color=color)

    def confirm(self, plan: Plan) -> bool:
        """Ask on the terminal. No answer (end of input) is a no; Ctrl-C and SIGTERM stop the
        run at once, as they would anywhere else in apply (see `_prompt_signals`)."""
        if self._auto_approve:
            return True
        with _prompt_signals():
            try:
                return click.confirm("Apply these changes?")
            except click.Abort as stop:
                if isinstance(stop.__context__, KeyboardInterrupt):
                    raise stop.__context__ from None  # with_api reports SIGINT, exit 130
                return False  # EOFError: nobody answered

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[None]:
        import os

        total = self.tally.begin(plan)  # the bar counts the addresses that have steps
        if not (sys.stderr.isatty() and not os.environ.get("CI") and total > 0):
            yield
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(
            TextColumn("applying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            console=Console(stderr=True, no_color=_no_color()),
            transient=True,
        )
        self._task = self._bar.add_task("apply", total=total, last="")
        with self._bar:
            try:
                yield
            finally:
                self._bar = None

    def step(self, address: str, message: str) -> None:
        self.tally.step()
        if self._bar is None or self._task is None:
            _progress(address, message)
            return
        self._bar.console.print(SCRUB(f"{address}: {message}"), markup=False, highlight=False)
        self._bar.update(self._task, last=address)

    def done(self, address: str, ok: bool) -> None:
        if self.tally.done(address) and self._bar is not None and self._task is not None:
            self._bar.advance(self._task)

    def step_event(self, address: str, step: Step, status: str, detail: str | None) -> None:
        pass  # people read `step` messages; `apply --json` reads these


class _JsonListener:
    """`apply --json`: one JSON object a line on stdout (views.apply_event), nothing else there.

    Never asks: the command requires --auto-approve or a plan file with --json.
    """

    def __init__(self) -> None:
        self._plan: Plan | None = None
        self._reader_gone = False
        self.tally = _Tally()

    def emit(self, event: str, **fields: object) -> None:
        """Write one line. If the reader has gone (a closed pipe), the apply goes on: stopping
        halfway through an address would be worse than losing the rest of the events."""
        import os
        from datetime import UTC, datetime

        from jobspec.views import apply_event

        if self._reader_gone:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        try:
            sys.stdout.write(SCRUB(apply_event(event, time=now, **fields)))
            sys.stdout.flush()  # a dashboard reads the lines as they come
        except OSError:  # BrokenPipeError and the like
            self._reader_gone = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush into the closed pipe
            os.close(devnull)
            click.echo("warning: stdout was closed; apply goes on without --json events", err=True)

    def lock_wait(self, holder: LockInfo) -> None:
        self.emit("lock_wait", holder=holder.describe())

    def warning(self, text: str) -> None:
        self.emit("warning", message=text)

    def planned(self, plan: Plan) -> None:
        self._emit_plan(plan)

    def confirm(self, plan: Plan) -> bool:
        return True

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[None]:
        self._emit_plan(plan)
        self.tally.begin(plan)
        yield

    def _emit_plan(self, plan: Plan) -> None:
        import json

        if self._plan is None:
            self._plan = plan
            self.emit("plan", plan=json.loads(plan.to_json()))

    def step(self, address: str, message: str) -> None:
        self.tally.step()
        self.emit("progress", address=address, message=message)

    def done(self, address: str, ok: bool) -> None:
        self.tally.done(address)
        self.emit("address", address=address, ok=ok)

    def step_event(self, address: str, step: Step, status: str, detail: str | None) -> None:
        from jobspec.views import step_fields

        assert self._plan is not None
        self.emit("step", address=address, **step_fields(self._plan, step, status, detail))


def _ownership_options(func: F) -> F:
    """`--replace` and `--accept-source-drift`, as plan and apply take them."""
    func = click.option(
        "--accept-source-drift",
        "accept_source",
        multiple=True,
        metavar="ADDRESS",
        shell_complete=_complete_address,
        help="Record that ADDRESS's source changed and its clone stays as it is (repeatable).",
    )(func)
    return click.option(
        "--replace",
        "replace",
        multiple=True,
        metavar="ADDRESS",
        shell_complete=_complete_address,
        help="Clone ADDRESS afresh; its current clone is retired as superseded (repeatable).",
    )(func)


@cli.command()
@_connection_options
@click.option("--out", "out_path", default=None, help="Save the plan for `jobspec apply FILE`.")
@_format_option(["text", "json", "markdown"], default="text")
@click.option("--prune", is_flag=True, help="Plan to retire the clones of removed specs.")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors."
)
@_ownership_options
@_report_errors
def plan(
    out_path: str | None,
    output_format: str,
    prune: bool,
    detailed_exitcode: bool,
    replace: tuple[str, ...],
    accept_source: tuple[str, ...],
    **flags: Unpack[ConnectionFlags],
) -> None:
    """Show what apply would do: specs vs state vs the live jobs. Changes nothing."""
    from pathlib import Path

    from jobspec import operations, views

    run = _resolve(**flags)
    desired = _load_specs(run.specs_dir)
    state = run.store.read()

    async def observe(api: Api) -> Plan:
        observed = await operations.observe(
            api,
            desired=desired,
            state=state,
            prune=prune,
            targets=run.targets,
            replace=replace,
            accept_source=accept_source,
        )
        return observed.plan

    result = run.with_api(observe)
    _show(views.interrupted_notes(state.pending_intents()))
    color = _use_color()
    _show(views.plan_view(result, output_format=output_format, color=color), color=color)
    if out_path:
        operations.save_plan_file(result, Path(out_path), scrub=SCRUB.known)
        _show(views.plan_saved(out_path))
    if detailed_exitcode and result.has_changes:
        sys.exit(2)


_LOCK_TIMEOUT_HELP = "Seconds to wait for the state lock (0: fail at once, naming the holder)."
_lock_timeout_option = click.option(
    "--lock-timeout",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help=_LOCK_TIMEOUT_HELP,
)
"""`--lock-timeout`, as every command that takes the state lock has it."""
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """Seconds from `90`, `90s`, `10m` or `1h` (a click callback, so any click version)."""
    if value is None:
        return None
    text = value.strip().lower()
    factor = _DURATION_UNITS.get(text[-1:])
    try:
        seconds = float(text[:-1] if factor else text) * (factor or 1.0)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a duration (like 300, 90s, 10m); to wait the default time, "
            "put --wait-for-idle after the plan file, or write --wait-for-idle=SECONDS",
            ctx=ctx,
            param=param,
        ) from None
    if not 0 <= seconds < float("inf"):
        raise click.BadParameter(f"{value!r} is not zero seconds or more", ctx=ctx, param=param)
    return seconds


def _idle_wait(timeout: float | None) -> IdleWait:
    """What `--wait-for-idle` asks of deletes: every one waits, or only the specs' own."""
    from jobspec.idle import IdleWait

    return IdleWait() if timeout is None else IdleWait(timeout=timeout, every_delete=True)


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@_connection_options
@click.option("--auto-approve", is_flag=True, help="Do not ask; required when not on a terminal.")
@click.option("--prune", is_flag=True, help="Retire the clones of removed specs, forget them.")
@_lock_timeout_option
@click.option(
    "--wait-for-idle",
    "wait_for_idle",
    is_flag=False,
    flag_value="600",
    default=None,
    callback=_duration,
    metavar="[=SECONDS]",
    help="Delete an original (or a replaced clone) only once it is not running, waiting up "
    "to SECONDS (also 10m, 1h) [default: 600].",
)
@_ownership_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object a line (plan, steps, summary) instead of text; needs "
    "--auto-approve or a plan file.",
)
@_report_errors
def apply(
    plan_file: str | None,
    auto_approve: bool,
    prune: bool,
    lock_timeout: float,
    wait_for_idle: float | None,
    replace: tuple[str, ...],
    accept_source: tuple[str, ...],
    as_json: bool,
    **flags: Unpack[ConnectionFlags],
) -> None:
    """Make it so: run a saved plan exactly, or plan and apply (asking first on a terminal).

    A running job is deleted at once unless --wait-for-idle (or `wait_for_idle: true` in its
    spec) asks to wait; a wait that times out leaves the delete for the next apply.
    """
    from jobspec.errors import UsageError

    if as_json and not (auto_approve or plan_file):
        raise UsageError(
            "--json cannot ask for confirmation",
            hint="pass --auto-approve, or apply a reviewed plan file",
        )
    if as_json:
        json_listener = _JsonListener()
        try:
            _apply(
                plan_file,
                auto_approve,
                prune,
                lock_timeout,
                wait_for_idle,
                replace,
                accept_source,
                json_listener,
                flags,
            )
        except JobspecError as exc:
            json_listener.emit("error", message=exc.message, hint=exc.hint)
            raise
        return
    _apply(
        plan_file,
        auto_approve,
        prune,
        lock_timeout,
        wait_for_idle,
        replace,
        accept_source,
        _ApplyListener(auto_approve=auto_approve),
        flags,
    )


def _apply(
    plan_file: str | None,
    auto_approve: bool,
    prune: bool,
    lock_timeout: float,
    wait_for_idle: float | None,
    replace: tuple[str, ...],
    accept_source: tuple[str, ...],
    listener: _ApplyListener | _JsonListener,
    flags: ConnectionFlags,
) -> None:
    from pathlib import Path

    from jobspec import operations, views
    from jobspec.errors import UsageError

    run = _resolve(**flags)
    saved = None
    desired = None
    if plan_file:
        saved = operations.read_plan_file(Path(plan_file))
        if run.targets or prune or replace or accept_source:
            raise UsageError(
                "--target, --prune, --replace and --accept-source-drift shape a new plan; "
                "a saved plan runs as it is"
            )
        if run.specs_dir.is_dir():  # to refuse the plan if the spec files changed since
            desired = _load_specs(run.specs_dir)
        else:
            click.echo(
                f"warning: no spec folder {run.specs_dir}: the plan is not compared with the "
                "spec files it was made from",
                err=True,
            )
    else:
        desired = _load_specs(run.specs_dir)
        if not auto_approve and not sys.stdin.isatty():
            raise UsageError(
                "not on a terminal, so there is nobody to confirm the plan",
                hint="pass --auto-approve in pipelines, or apply a reviewed plan file",
            )
    options = operations.ApplyOptions(
        concurrency=run.settings.concurrency,
        settle=run.settings.clone_settle,
        lock_timeout=lock_timeout,
        prune=prune,
        targets=run.targets,
        replace=replace,
        accept_source=accept_source,
        idle=_idle_wait(wait_for_idle),
    )
    try:
        outcome = run.with_api(
            lambda api: operations.apply(
                api, run.store, desired=desired, saved=saved, options=options, listener=listener
            )
        )
    except _Interrupted as stop:
        stopped = views.apply_interrupted(
            stop.signal_name,
            steps=listener.tally.steps,
            finished=listener.tally.finished,
            total=listener.tally.total,
            saved_plan=saved is not None,
        )
        if isinstance(listener, _JsonListener):
            listener.emit("error", message=stopped.err.strip(), hint=None)
        _show(stopped)
        sys.exit(stop.exit_code)
    if isinstance(listener, _JsonListener):
        listener.emit("summary", **views.apply_result_fields(outcome.result))
    elif outcome.result is not None:
        _show(views.apply_summary(outcome.result))
    if outcome.result is not None and not outcome.result.ok:
        sys.exit(1)


@cli.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@_format_option(["text", "json", "markdown"], default="text")
@_report_errors
def show(plan_file: str, output_format: str) -> None:
    """Print a saved plan file. Calls nothing."""
    from pathlib import Path

    from jobspec.errors import UsageError
    from jobspec.operations import read_plan_file
    from jobspec.plan import PlanTampered
    from jobspec.views import plan_view

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
    color = _use_color()
    _show(plan_view(saved, output_format=output_format, color=color), color=color)


def _state_option(func: F) -> F:
    return click.option(
        "--state",
        "state_path",
        default=None,
        help="State file or postgresql:// URL [default: $JOBSPEC_STATE, else `state` in "
        "./jobspec.toml, else jobspec.state.json].",
    )(func)


def _open_store(state_path: str | None) -> StateStore:
    import os

    from jobspec.settings import state_location
    from jobspec.state import open_state_store

    location = state_location(env=os.environ, flag=state_path, config_path=_config_path())
    SCRUB.add(*url_secrets(str(location)))
    return open_state_store(location)


@cli.group()
def state() -> None:
    """Inspect, edit or move the state (a file, or PostgreSQL). Never touches the server."""


@state.command("list")
@_state_option
@_report_errors
def state_list(state_path: str | None) -> None:
    """One line per address: clone id, source id, how the original was retired."""
    from jobspec.views import state_list as view

    _show(view(_open_store(state_path).read()))


@state.command("show")
@click.argument("address", shell_complete=_complete_address)
@_state_option
@_report_errors
def state_show(address: str, state_path: str | None) -> None:
    """The whole state entry of one address, as JSON."""
    from jobspec.errors import UsageError
    from jobspec.views import state_entry

    entry = _open_store(state_path).read().entries.get(address)
    if entry is None:
        raise UsageError(f"no state entry for {address}", hint="see `jobspec state list`")
    _show(state_entry(entry))


@state.command("rm")
@click.argument("address")
@_state_option
@_lock_timeout_option
@_report_errors
def state_rm(address: str, state_path: str | None, lock_timeout: float) -> None:
    """Forget an address without touching the server (its clone stays as it is)."""
    from jobspec.operations import forget
    from jobspec.views import state_forgotten

    clone = forget(_open_store(state_path), address=address, lock_timeout=lock_timeout)
    _show(state_forgotten(address, clone))


@state.command("mv")
@click.argument("old", shell_complete=_complete_address)
@click.argument("new")
@_state_option
@_lock_timeout_option
@_report_errors
def state_mv(old: str, new: str, state_path: str | None, lock_timeout: float) -> None:
    """Rename an address in state: its clone moves with it, and no new clone is made.

    Rename the address in the spec files too; the next plan then sees the same clone.
    """
    from jobspec.operations import move_address
    from jobspec.views import state_moved

    clone = move_address(_open_store(state_path), old=old, new=new, lock_timeout=lock_timeout)
    _show(state_moved(old, new, clone))


@state.command("set-server")
@click.argument("url")
@_state_option
@_lock_timeout_option
@_report_errors
def state_set_server(url: str, state_path: str | None, lock_timeout: float) -> None:
    """Re-point the state at URL after the DryvIQ server really moved (same jobs, new address).

    A state records its server and refuses any other: the same job ids on another server (a
    staging copy restored from production) are other jobs. Never use this to share a state.
    """
    from jobspec.netaddr import server_identity
    from jobspec.operations import repoint_server
    from jobspec.settings import normalize_server
    from jobspec.views import state_repointed

    old = repoint_server(_open_store(state_path), server=url, lock_timeout=lock_timeout)
    _show(state_repointed(old, server_identity(normalize_server(url))))


@state.command("restore")
@_state_option
@_lock_timeout_option
@_report_errors
def state_restore(state_path: str | None, lock_timeout: float) -> None:
    """Make the state file's backup the state again, in a new serial epoch.

    For a state file that is damaged or wrong. The replaced snapshot and journal are kept
    beside it; plans saved before the restore are refused afterwards.
    """
    from jobspec.operations import restore_backup
    from jobspec.state import FileStateStore
    from jobspec.views import state_restored

    store = _open_store(state_path)
    done = restore_backup(store, lock_timeout=lock_timeout)
    backup = store.backup_path if isinstance(store, FileStateStore) else store.location
    _show(state_restored(done, backup=str(backup)))


_FORCE_HELP = "Replace a state of another lineage, or a newer one (its content is lost)."


@state.command("push")
@click.argument("source")
@_state_option
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@_lock_timeout_option
@_report_errors
def state_push(source: str, state_path: str | None, force: bool, lock_timeout: float) -> None:
    """Copy the whole state in SOURCE (a state file) into the state (e.g. PostgreSQL).

    Refused when the two are different states (lineage) or SOURCE is older, unless --force.
    """
    _copy_state(
        source=source, target=None, state_path=state_path, force=force, timeout=lock_timeout
    )


@state.command("pull")
@click.argument("target")
@_state_option
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@_lock_timeout_option
@_report_errors
def state_pull(target: str, state_path: str | None, force: bool, lock_timeout: float) -> None:
    """Copy the whole state (e.g. in PostgreSQL) into TARGET (a state file).

    Refused when the two are different states (lineage) or TARGET is newer, unless --force.
    """
    _copy_state(
        source=None, target=target, state_path=state_path, force=force, timeout=lock_timeout
    )


def _copy_state(
    *, source: str | None, target: str | None, state_path: str | None, force: bool, timeout: float
) -> None:
    from jobspec.operations import copy_state
    from jobspec.views import state_copied

    done = copy_state(
        _open_store(state_path), source=source, target=target, force=force, lock_timeout=timeout
    )
    _show(state_copied(done.origin, done.destination, done.transfer))


@cli.command("import")
@click.argument("address", required=False)
@click.argument("job_id", required=False)
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False),
    help="Import many: a YAML (address: job_id) or CSV (address,job_id) file; all rows or none.",
)
@_server_options
@_lock_timeout_option
@click.option(
    "--force",
    is_flag=True,
    help="Adopt a job whose kind or unchanged endpoints differ from the source's (plans say so).",
)
@_report_errors
def import_(
    address: str | None,
    job_id: str | None,
    from_file: str | None,
    lock_timeout: float,
    force: bool,
    **flags: Unpack[ServerFlags],
) -> None:
    """Adopt an existing job as ADDRESS's clone; the next plan verifies its fields.

    Refused for a job state already holds or a spec clones, and (unless --force) for one whose
    kind or endpoints the spec does not change differ from the source's. With --from FILE,
    every row is checked first, then all are imported under one lock, or none.
    """
    from pathlib import Path

    from jobspec import operations
    from jobspec.errors import UsageError
    from jobspec.views import batch_imported, imported

    if from_file is not None:
        if address is not None:
            raise UsageError("give ADDRESS JOB_ID or --from FILE, not both")
        rows = operations.read_import_file(Path(from_file))
        run = _resolve(**flags)
        desired = _load_specs(run.specs_dir)
        done = run.with_api(
            lambda api: operations.import_batch(
                api, run.store, desired=desired, rows=rows, lock_timeout=lock_timeout, force=force
            )
        )
        _show(batch_imported(done.imported, done.already))
        return
    if address is None or job_id is None:
        raise UsageError(
            "give ADDRESS JOB_ID, or --from FILE", hint="e.g. `jobspec import finance c4d8…`"
        )
    operations.check_job_id(job_id)
    run = _resolve(**flags)
    desired = _load_specs(run.specs_dir)
    operations.check_import(desired, address=address, job_id=job_id)
    entry = run.with_api(
        lambda api: operations.import_job(
            api,
            run.store,
            desired=desired,
            address=address,
            job_id=job_id,
            lock_timeout=lock_timeout,
            force=force,
        )
    )
    _show(imported(address, entry))


@cli.command()
@click.argument("job_ids", nargs=-1, metavar="[JOB_ID]...")
@click.option("--query", default=None, help="Jobs the server finds for TEXT (its `q` filter).")
@click.option("--category", default=None, help="Jobs in this category (name or id).")
@click.option("--kind", default=None, help="Jobs of this kind (e.g. transfer).")
@click.option("--status", default=None, help="Jobs in this status (e.g. idle, failed).")
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
@_server_options
@_report_errors
def generate(
    job_ids: tuple[str, ...],
    query: str | None,
    category: str | None,
    kind: str | None,
    status: str | None,
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
    """
    from pathlib import Path

    from jobspec import operations, views
    from jobspec.generate import Selection
    from jobspec.model import OriginalPolicy
    from jobspec.spec import spec_files

    selection = Selection(
        ids=job_ids, query=query, category=category, kind=kind, status=status, every=every
    )
    out = Path(out_path) if out_path else None
    operations.check_generate(
        selection=selection, sets=list(sets), name_template=name_template, out=out, force=force
    )
    run = _resolve(**flags)
    # no spec folder yet is where adoption starts; specs there must be valid (their sources
    # and clone names are what generate leaves out)
    has_specs = run.specs_dir.is_dir() and spec_files(run.specs_dir)
    desired = _load_specs(run.specs_dir) if has_specs else {}
    state = run.store.read()
    outcome = run.with_api(
        lambda api: operations.generate_specs(
            api,
            selection=selection,
            state=state,
            desired=desired,
            sets=list(sets),
            name_template=name_template,
            original=OriginalPolicy(original),
            out=out,
            force=force,
        )
    )
    _show(
        views.generated(outcome.generated, text=outcome.text, listed=outcome.listed, out=out_path)
    )


@cli.command()
@click.argument("lock_id")
@_state_option
@_report_errors
def unlock(lock_id: str, state_path: str | None) -> None:
    """Break the state lock on purpose (only if LOCK_ID matches the holder's id)."""
    from jobspec.views import lock_broken

    _show(lock_broken(_open_store(state_path).unlock(lock_id)))


@cli.command()
@_connection_options
@_format_option(["text", "json"], default="text")
@_report_errors
def drift(output_format: str, **flags: Unpack[ConnectionFlags]) -> None:
    """Report what changed outside jobspec (read-only). Exit 2 when there is drift.

    Each finding says who moved: the spec (edited, not applied yet), the server (the clone or
    the original edited, deleted or rescheduled by hand) or the source job.
    """
    from jobspec import operations
    from jobspec.views import drift_report

    run = _resolve(**flags)
    desired = _load_specs(run.specs_dir)
    state = run.store.read()
    found = run.with_api(
        lambda api: operations.drift(api, desired=desired, state=state, targets=run.targets)
    )
    _show(drift_report(found, output_format=output_format))
    if found:
        sys.exit(2)


@cli.command()
@_format_option(
    ["json", "markdown"],
    default="json",
    help="`markdown` is the field reference (docs/spec-reference.md).",
)
def schema(output_format: str) -> None:
    """Print the JSON Schema of spec files (for editors), generated from the models."""
    from jobspec.schema import spec_json_schema_text, spec_reference_markdown

    text = spec_json_schema_text() if output_format == "json" else spec_reference_markdown()
    click.echo(text, nl=False)


@cli.command()
@click.option(
    "--specs",
    "specs_dir",
    default=None,
    help="Spec directory [default: `specs` in jobspec.toml, else specs].",
)
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@_report_errors
def fmt(specs_dir: str | None, check: bool) -> None:
    """Rewrite spec files in canonical form, keeping comments and key order."""
    from jobspec.operations import format_specs
    from jobspec.settings import specs_location
    from jobspec.views import fmt_report

    directory = specs_location(flag=specs_dir, config_path=_config_path())
    _load_specs(directory)  # only valid specs are rewritten
    changed = format_specs(directory, check=check)
    _show(fmt_report(changed, check=check))
    if check and changed:
        sys.exit(1)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: `eval "$(jobspec completion bash)"`."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None
    click.echo(completer(cli, {}, "jobspec", "_JOBSPEC_COMPLETE").source())


GC_YOUNG_THRESHOLD = 50_000


def main() -> None:
    # A plan builds hundreds of thousands of objects that live until the process ends (a
    # listing's jobs, the specs, the plan) and hardly any cycles; at the default threshold (700
    # allocations) the collector kept re-scanning them: a third of the plan's CPU at 10,000
    # specs. Collect young objects every 50,000 allocations instead.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    cli(prog_name="jobspec")


if __name__ == "__main__":
    main()
