"""Argument parsing and wiring: the one place that prints and chooses exit codes.

Heavy modules (pydantic models, httpx, ruamel, uvicorn, rich) are imported inside the commands
so that `jobspec --help` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import click

from jobspec import __version__
from jobspec.errors import JobspecError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def _report_errors(func: F) -> F:
    """Turn a `JobspecError` into `error: …` / `hint: …` and its exit code; bugs keep tracebacks."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except JobspecError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jobspec")
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-v info, -vv debug).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Log level for stderr (overrides -v).",
)
@click.option("--no-color", is_flag=True, help="No colour in output (as does NO_COLOR=1).")
def cli(verbose: int, log_level: str | None, no_color: bool) -> None:
    """Declarative DryvIQ transfer jobs: specs in git, `plan` in CI, `apply` in CD."""
    import logging
    import os

    if no_color:
        os.environ["NO_COLOR"] = "1"
    level = log_level or {0: None, 1: "info"}.get(verbose, "debug")
    if level:
        logging.basicConfig(
            level=level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )


# --- emulator -----------------------------------------------------------------------------------
# (the `emulator` command is registered below)


@cli.command()
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
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@_report_errors
def emulator(host: str, port: int, log_level: str, data_path: str | None, **settings: Any) -> None:
    """Run a local DryvIQ-compatible server (jobs API plus /_emulator/ test controls)."""
    from pathlib import Path

    from jobspec.emulator.config import EmulatorConfig, check_exposure

    config = EmulatorConfig(data_path=Path(data_path) if data_path else None, **settings)
    check_exposure(config, host=host)

    from jobspec.emulator.server import serve

    shown = f"[{host}]" if ":" in host else host
    click.echo(f"jobspec emulator on http://{shown}:{port}/ (Ctrl-C to stop)", err=True)
    serve(config, host=host, port=port, log_level=log_level)


# --- validate -----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--specs",
    "specs_dir",
    default="specs",
    show_default=True,
    help="Directory of *.yaml / *.yml spec files (not searched recursively).",
)
@_format_option(
    ["text", "github"], default="text", help="`github` prints GitHub Actions error annotations."
)
@_report_errors
def validate(specs_dir: str, output_format: str) -> None:
    """Check the specs offline (YAML, schema, addresses): every problem in one pass.

    Exit 0 when clean, 1 when any problem is found. Never calls the API.
    """
    from pathlib import Path

    from jobspec.spec import collect_problems, spec_files

    directory = Path(specs_dir)
    desired, problems = collect_problems(directory)
    if not problems:
        files = len(spec_files(directory))
        click.echo(f"ok: {_count(len(desired), 'job')} in {_count(files, 'file')}")
        return
    for problem in problems:
        click.echo(_github_annotation(problem) if output_format == "github" else str(problem))
    files = len({problem.file for problem in problems})
    click.echo(f"{_count(len(problems), 'problem')} in {_count(files, 'file')}", err=True)
    sys.exit(1)


def _count(number: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{number:,} {noun if number == 1 else plural}"


def _github_annotation(problem: Any) -> str:
    """`::error file=…,line=…,col=…::message`, escaped per the workflow-command rules."""

    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    message = f"{problem.message} ({problem.hint})" if problem.hint else problem.message
    return (
        f"::error file={prop(problem.file)},line={problem.line},col={problem.column}"
        f"::{data(message)}"
    )


# --- plan, apply and around them ----------------------------------------------------------------


def _connection_options(func: F) -> F:
    """Flags shared by every command that talks to the server and reads state."""
    options = [
        click.option("--specs", "specs_dir", default=None, help="Spec directory [default: specs]."),
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
        click.option(
            "--config",
            "config_path",
            default=None,
            type=click.Path(dir_okay=False),
            help="Config file [default: ./jobspec.toml if present].",
        ),
        click.option(
            "--target",
            "targets",
            multiple=True,
            metavar="ADDRESS",
            help="Only this address (repeatable).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@dataclass
class _Run:
    """What a plan or apply command works with, resolved from flags, environment and config."""

    settings: Any
    specs_dir: Any
    store: Any
    targets: tuple[str, ...]


def _resolve(
    *,
    specs_dir: str | None,
    state_path: str | None,
    server: str | None,
    insecure: bool,
    concurrency: int | None,
    config_path: str | None,
    targets: tuple[str, ...],
) -> _Run:
    import os
    from pathlib import Path

    from jobspec.settings import load_settings, state_location
    from jobspec.stores import open_state_store

    settings = load_settings(
        env=os.environ,
        config_path=Path(config_path) if config_path else None,
        server=server,
        concurrency=concurrency,
        insecure=insecure,
    )
    specs = Path(specs_dir) if specs_dir else settings.specs_dir
    location = (
        settings.state_path if state_path is None else state_location(env={}, flag=state_path)
    )
    return _Run(
        settings=settings, specs_dir=specs, store=open_state_store(location), targets=targets
    )


def _load_specs(directory: Any) -> Any:
    """Every spec problem, printed in full, before anything touches the network."""
    from jobspec.spec import collect_problems

    desired, problems = collect_problems(directory)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        from jobspec.errors import SpecError

        raise SpecError(problems)
    return desired


def _use_color(stream: Any) -> bool:
    if _no_color():
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _progress(address: str, message: str) -> None:
    """One timestamped line per step on stderr: readable in CI logs, quiet in stdout."""
    import time

    click.echo(f"{time.strftime('%H:%M:%S')} {address}: {message}", err=True)


class _ApplyProgress:
    """A live bar on a terminal (rich); plain timestamped lines elsewhere (CI logs)."""

    def __init__(self, plan: Any) -> None:
        import os

        self._total = sum(1 for action in plan.actions if action.steps)
        self._live = sys.stderr.isatty() and not os.environ.get("CI") and self._total > 0
        self._bar: Any = None

    def __enter__(self) -> _ApplyProgress:
        if self._live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            console = Console(stderr=True, no_color=_no_color())
            self._bar = Progress(
                TextColumn("applying"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                console=console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("apply", total=self._total, last="")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def report(self, address: str, message: str) -> None:
        if self._bar is None:
            _progress(address, message)
            return
        self._bar.console.print(f"{address}: {message}", markup=False, highlight=False)
        self._bar.update(self._task, last=address)

    def done(self, address: str, ok: bool) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)


def _no_color() -> bool:
    import os

    return bool(os.environ.get("NO_COLOR"))


def _render(plan: Any, output_format: str) -> str:
    from jobspec.render import render_json, render_markdown, render_text

    if output_format == "json":
        return str(render_json(plan))
    if output_format == "markdown":
        return str(render_markdown(plan))
    return str(render_text(plan, color=_use_color(sys.stdout)))


@cli.command()
@_connection_options
@click.option("--out", "out_path", default=None, help="Save the plan for `jobspec apply FILE`.")
@_format_option(["text", "json", "markdown"], default="text")
@click.option("--prune", is_flag=True, help="Plan to retire the clones of removed specs.")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors."
)
@_report_errors
def plan(
    out_path: str | None, output_format: str, prune: bool, detailed_exitcode: bool, **flags: Any
) -> None:
    """Show what apply would do: specs vs state vs the live jobs. Changes nothing."""
    import asyncio

    run = _resolve(**flags)
    desired = _load_specs(run.specs_dir)
    state = run.store.read()

    async def observe() -> Any:
        from jobspec.client import DryvIQClient
        from jobspec.operations import observe

        async with DryvIQClient(run.settings) as api:
            return (
                await observe(api, desired=desired, state=state, prune=prune, targets=run.targets)
            ).plan

    result = asyncio.run(observe())
    for intent in state.pending_intents():
        click.echo(
            f"note: {intent.address}: a `{intent.op}` call was interrupted; apply settles it first",
            err=True,
        )
    click.echo(_render(result, output_format), nl=False)
    if out_path:
        from pathlib import Path

        from jobspec.state import atomic_write

        try:
            atomic_write(Path(out_path), [result.to_json().encode()])
        except OSError as exc:
            raise UsageError(
                f"cannot write the plan to {out_path}: {exc.strerror}",
                hint="--out names a file in a folder that exists",
            ) from None
        click.echo(f"saved plan to {out_path}; apply it with `jobspec apply {out_path}`", err=True)
    if detailed_exitcode and result.has_changes:
        sys.exit(2)


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


def _idle_wait(timeout: float | None) -> Any:
    """What `--wait-for-idle` asks of deletes: every one waits, or only the specs' own."""
    from jobspec.idle import IdleWait

    return IdleWait() if timeout is None else IdleWait(timeout=timeout, every_delete=True)


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@_connection_options
@click.option("--auto-approve", is_flag=True, help="Do not ask; required when not on a terminal.")
@click.option("--prune", is_flag=True, help="Retire the clones of removed specs, forget them.")
@click.option(
    "--lock-timeout",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for the state lock (0: fail at once, naming the holder).",
)
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
@_report_errors
def apply(
    plan_file: str | None,
    auto_approve: bool,
    prune: bool,
    lock_timeout: float,
    wait_for_idle: float | None,
    **flags: Any,
) -> None:
    """Make it so: run a saved plan exactly, or plan and apply (asking first on a terminal).

    A running job is deleted at once unless --wait-for-idle (or `wait_for_idle: true` in its
    spec) asks to wait; a wait that times out leaves the delete for the next apply.
    """
    import asyncio

    from jobspec.errors import UsageError

    run = _resolve(**flags)
    saved = None
    if plan_file:
        from pathlib import Path

        from jobspec.plan import Plan

        saved = _read_plan(Path(plan_file), Plan)
        if run.targets or prune:
            raise UsageError("--target and --prune shape a new plan; a saved plan runs as it is")
        desired = None
    else:
        desired = _load_specs(run.specs_dir)
        if not auto_approve and not sys.stdin.isatty():
            raise UsageError(
                "not on a terminal, so there is nobody to confirm the plan",
                hint="pass --auto-approve in pipelines, or apply a reviewed plan file",
            )

    async def go() -> Any:
        from jobspec.applier import apply_plan
        from jobspec.client import DryvIQClient
        from jobspec.operations import check_fresh, observe, settle_interrupted
        from jobspec.render import render_text

        def waiting(holder: Any) -> None:
            click.echo(f"waiting for the state lock held by {holder.describe()}", err=True)

        async with DryvIQClient(run.settings) as api:
            with run.store.lock(
                timeout=lock_timeout, operation="apply", on_wait=waiting
            ) as session:
                for warning in session.warnings:
                    click.echo(f"warning: {warning}", err=True)
                if saved is not None:
                    await check_fresh(saved, session.state, api)
                    plan = saved
                else:
                    assert desired is not None
                    await settle_interrupted(
                        session, api, _progress, settle=run.settings.clone_settle
                    )
                    observed = await observe(
                        api,
                        desired=desired,
                        state=session.state,
                        prune=prune,
                        targets=run.targets,
                    )
                    plan = observed.plan
                    click.echo(render_text(plan, color=_use_color(sys.stdout)), nl=False)
                    if not plan.has_changes:
                        return None
                    if not auto_approve and not click.confirm("Apply these changes?"):
                        raise UsageError("apply cancelled; nothing was changed")
                with _ApplyProgress(plan) as progress:
                    return await apply_plan(
                        plan,
                        api=api,
                        journal=session,
                        concurrency=run.settings.concurrency,
                        settle=run.settings.clone_settle,
                        report=progress.report,
                        on_done=progress.done,
                        idle=_idle_wait(wait_for_idle),
                    )

    result = asyncio.run(go())
    if result is None:
        return
    counts = ", ".join(f"{number} {word}" for word, number in result.counts.items())
    click.echo(f"Apply {'complete' if result.ok else 'finished with failures'}: {counts}.")
    if not result.ok:
        for address, message in result.failures:
            click.echo(f"failed: {address}: {message}", err=True)
        click.echo(
            "hint: every completed step is saved; fix the cause and run apply again", err=True
        )
        sys.exit(1)


def _read_plan(path: Any, plan_type: Any) -> Any:
    from pydantic import ValidationError

    from jobspec.errors import UsageError
    from jobspec.plan import PLAN_FORMAT_VERSION

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read plan file {path}: {exc.strerror}") from exc
    try:
        plan = plan_type.from_json(text)
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


@cli.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@_format_option(["text", "json", "markdown"], default="text")
@_report_errors
def show(plan_file: str, output_format: str) -> None:
    """Print a saved plan file. Calls nothing."""
    from pathlib import Path

    from jobspec.plan import Plan

    click.echo(_render(_read_plan(Path(plan_file), Plan), output_format), nl=False)


def _state_option(func: F) -> F:
    return click.option(
        "--state",
        "state_path",
        default=None,
        help="State file or postgresql:// URL [default: $JOBSPEC_STATE, else `state` in "
        "./jobspec.toml, else jobspec.state.json].",
    )(func)


def _open_store(state_path: str | None) -> Any:
    import os

    from jobspec.settings import state_location
    from jobspec.stores import open_state_store

    return open_state_store(state_location(env=os.environ, flag=state_path))


@cli.group()
def state() -> None:
    """Inspect, edit or move the state (a file, or PostgreSQL). Never touches the server."""


@state.command("list")
@_state_option
@_report_errors
def state_list(state_path: str) -> None:
    """One line per address: clone id, source id, how the original was retired."""
    current = _open_store(state_path).read()
    for address, entry in sorted(current.entries.items()):
        retired = entry.original_retired.value if entry.original_retired else "not retired"
        click.echo(
            f"{address}\tclone {entry.clone_id}\tsource {entry.source_id}\t"
            f"original {entry.original}: {retired}"
        )
    click.echo(
        f"{_count(len(current.entries), 'address')} (serial {current.serial}, "
        f"lineage {current.lineage or 'none'})",
        err=True,
    )


@state.command("show")
@click.argument("address")
@_state_option
@_report_errors
def state_show(address: str, state_path: str) -> None:
    """The whole state entry of one address, as JSON."""
    from jobspec.errors import UsageError

    entry = _open_store(state_path).read().entries.get(address)
    if entry is None:
        raise UsageError(f"no state entry for {address}", hint="see `jobspec state list`")
    click.echo(entry.model_dump_json(indent=2))


@state.command("rm")
@click.argument("address")
@_state_option
@click.option("--lock-timeout", default=0.0, type=click.FloatRange(min=0))
@_report_errors
def state_rm(address: str, state_path: str, lock_timeout: float) -> None:
    """Forget an address without touching the server (its clone stays as it is)."""
    from jobspec.errors import UsageError

    with _open_store(state_path).lock(timeout=lock_timeout, operation="state rm") as session:
        if address not in session.entries:
            raise UsageError(f"no state entry for {address}", hint="see `jobspec state list`")
        clone = session.entries[address].clone_id
        session.remove(address)
    click.echo(f"forgot {address}; its clone {clone} was left on the server as it is")


_FORCE_HELP = "Replace a state of another lineage, or a newer one (its content is lost)."


@state.command("push")
@click.argument("source")
@_state_option
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@click.option("--lock-timeout", default=0.0, type=click.FloatRange(min=0))
@_report_errors
def state_push(source: str, state_path: str | None, force: bool, lock_timeout: float) -> None:
    """Copy the whole state in SOURCE (a state file) into the state (e.g. PostgreSQL).

    Refused when the two are different states (lineage) or SOURCE is older, unless --force.
    """
    _transfer(source=source, target=None, state_path=state_path, force=force, timeout=lock_timeout)


@state.command("pull")
@click.argument("target")
@_state_option
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@click.option("--lock-timeout", default=0.0, type=click.FloatRange(min=0))
@_report_errors
def state_pull(target: str, state_path: str | None, force: bool, lock_timeout: float) -> None:
    """Copy the whole state (e.g. in PostgreSQL) into TARGET (a state file).

    Refused when the two are different states (lineage) or TARGET is newer, unless --force.
    """
    _transfer(source=None, target=target, state_path=state_path, force=force, timeout=lock_timeout)


def _transfer(
    *, source: str | None, target: str | None, state_path: str | None, force: bool, timeout: float
) -> None:
    from pathlib import Path

    from jobspec.errors import UsageError
    from jobspec.state_url import is_database_url
    from jobspec.stores import open_state_store, transfer_state

    what = "push" if target is None else "pull"
    for given in (source, target):
        if given is not None and not is_database_url(given) and not Path(given).parent.is_dir():
            raise UsageError(f"directory {Path(given).parent} does not exist")
    if source is not None and not is_database_url(source) and not Path(source).exists():
        raise UsageError(f"state file {source} does not exist", hint="nothing to push")
    configured = _open_store(state_path)
    origin = configured if source is None else open_state_store(source)
    destination = configured if target is None else open_state_store(target)
    done = transfer_state(
        source=origin, target=destination, force=force, what=what, lock_timeout=timeout
    )
    if done.after is None:
        click.echo(
            f"{destination.location} already holds this state (serial {done.before.serial}); "
            "nothing copied"
        )
        return
    replaced = (
        "an empty state"
        if done.before.lineage is None
        else f"lineage {done.before.lineage} serial {done.before.serial}"
    )
    click.echo(
        f"copied {_count(len(done.after.entries), 'address')} from {origin.location} to "
        f"{destination.location}: lineage {done.after.lineage} serial {done.after.serial} "
        f"(replaced {replaced})"
    )


@cli.command("import")
@click.argument("address")
@click.argument("job_id")
@_connection_options
@click.option("--lock-timeout", default=0.0, type=click.FloatRange(min=0))
@_report_errors
def import_(address: str, job_id: str, lock_timeout: float, **flags: Any) -> None:
    """Adopt an existing job as ADDRESS's clone; the next plan verifies its fields."""
    import asyncio

    from jobspec.errors import UsageError
    from jobspec.model import JOB_ID_RE

    if not JOB_ID_RE.match(job_id):
        raise UsageError(f"{job_id!r} is not a job id (32 hex digits)")
    run = _resolve(**flags)
    desired = _load_specs(run.specs_dir)
    if address not in desired:
        raise UsageError(
            f"no spec has the address {address}", hint="import needs the spec written first"
        )

    async def go() -> Any:
        from jobspec.client import DryvIQClient
        from jobspec.operations import import_clone

        async with DryvIQClient(run.settings) as api:
            with run.store.lock(timeout=lock_timeout, operation="import") as session:
                if address in session.entries:
                    raise UsageError(
                        f"{address} already has clone {session.entries[address].clone_id}",
                        hint=f"`jobspec state rm {address}` first to replace it",
                    )
                return await import_clone(session, api, wanted=desired[address], job_id=job_id)

    entry = asyncio.run(go())
    click.echo(f"imported {entry.clone_id} as {address}; run `jobspec plan` to verify it")


@cli.command()
@click.argument("lock_id")
@_state_option
@_report_errors
def unlock(lock_id: str, state_path: str) -> None:
    """Break the state lock on purpose (only if LOCK_ID matches the holder's id)."""
    holder = _open_store(state_path).unlock(lock_id)
    click.echo(f"broke the lock held by {holder.describe()}")


@cli.command()
@_connection_options
@_format_option(["text", "json"], default="text")
@_report_errors
def drift(output_format: str, **flags: Any) -> None:
    """Report what changed outside jobspec (read-only). Exit 2 when there is drift.

    Each finding says who moved: the spec (edited, not applied yet), the server (the clone or
    the original edited, deleted or rescheduled by hand) or the source job.
    """
    import asyncio
    import json

    run = _resolve(**flags)
    desired = _load_specs(run.specs_dir)
    state = run.store.read()

    async def look() -> Any:
        from jobspec.client import DryvIQClient
        from jobspec.drift import find_drift
        from jobspec.operations import observe

        async with DryvIQClient(run.settings) as api:
            observed = await observe(api, desired=desired, state=state, targets=run.targets)
        return find_drift(observed.plan, prior=state.entries, live=observed.live)

    found = asyncio.run(look())
    if output_format == "json":
        document = {
            "drift": bool(found),
            "findings": [
                {"address": d.address, "kind": d.kind.name, "detail": d.detail} for d in found
            ],
        }
        click.echo(json.dumps(document, indent=2))
    elif not found:
        click.echo("No drift: the server matches the specs and the state.")
    else:
        for item in found:
            click.echo(f"{item.address}: {item.kind.value}: {item.detail}")
        click.echo(f"{_count(len(found), 'finding')} of drift", err=True)
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
@click.option("--specs", "specs_dir", default="specs", show_default=True)
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@_report_errors
def fmt(specs_dir: str, check: bool) -> None:
    """Rewrite spec files in canonical form, keeping comments and key order."""
    from pathlib import Path

    from jobspec.spec import format_spec_text, spec_files
    from jobspec.state import atomic_write

    directory = Path(specs_dir)
    _load_specs(directory)  # only valid specs are rewritten
    changed = []
    for path in spec_files(directory):
        text = path.read_text(encoding="utf-8")
        formatted = format_spec_text(text)
        if formatted == text:
            continue
        changed.append(path)
        if check:
            click.echo(f"would reformat {path}")
        else:
            atomic_write(path, [formatted.encode("utf-8")])
            click.echo(f"reformatted {path}")
    if check and changed:
        click.echo(f"{_count(len(changed), 'file')} would change; run `jobspec fmt`", err=True)
        sys.exit(1)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. `eval "$(jobspec completion bash)"`."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None
    click.echo(completer(cli, {}, "jobspec", "_JOBSPEC_COMPLETE").source())


def main() -> None:
    cli(prog_name="jobspec")


if __name__ == "__main__":
    main()
