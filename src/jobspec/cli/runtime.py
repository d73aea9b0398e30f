"""The run's plumbing: the scrubber, printing, the one error-reporting path, the event loop.

Every line printed or logged passes through `SCRUB`; every command is wrapped in
`report_errors`, which turns a `JobspecError` into `error: …` / `hint: …` and its exit code;
`run_async` runs a coroutine on a fresh event loop with SIGINT and SIGTERM turned into
`Interrupted` once the work has unwound.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

from jobspec.errors import JobspecError, Stopped
from jobspec.scrub import Scrubber, shorten

if TYPE_CHECKING:
    import logging

    from rich.progress import Progress, TaskID

    from jobspec.render import Paint
    from jobspec.views import Screen
    from jobspec.views.listeners import ProgressBar

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


class Interrupted(Exception):
    """Ctrl-C (SIGINT) or a pipeline's cancel (SIGTERM) stopped the run's event loop.

    Raised once the loop has unwound: every `with store.lock()` has released its lock and
    closed its session (journal records already written stay; none is half-written, since a
    record is written between two awaits).
    """

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = exit_code


def report_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a `JobspecError` into `error: …` / `hint: …` and its exit code; bugs keep tracebacks."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except Interrupted as stop:
            echo(f"interrupted by {stop.signal_name}; the state lock is released", err=True)
            sys.exit(stop.exit_code)
        except JobspecError as exc:
            echo(f"error: {exc.message}", err=True)
            if exc.hint:
                echo(f"hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def echo(text: str, *, err: bool = False, nl: bool = True, color: bool | None = None) -> None:
    """Print through the scrubber; on stderr, lines are also bounded in length."""
    text = SCRUB(text)
    if err:
        text = "\n".join(shorten(line, LINE_LIMIT) for line in text.split("\n"))
    click.echo(text, nl=nl, err=err, color=color)


def show(screen: Screen, *, color: bool = False) -> None:
    """Print a view: its result on stdout, its notes on stderr. `color`: the view was painted
    (`painter`), so its escape codes stay, off a terminal too (FORCE_COLOR); click strips
    any other escape codes off a terminal."""
    if screen.out:
        echo(screen.out, nl=False, color=True if color else None)
    if screen.err:
        echo(screen.err, nl=False, err=True)


def warn(text: str) -> None:
    echo(f"warning: {text}", err=True)


@dataclass
class Globals:
    """The global options, wherever on the line they were given (before or after the command)."""

    verbose: int = 0
    log_level: str | None = None
    no_color: bool = False
    config: str | None = None


def globals_of(ctx: click.Context) -> Globals:
    meta = ctx.find_root().meta
    found = meta.get("jobspec.globals")
    if not isinstance(found, Globals):
        found = meta["jobspec.globals"] = Globals()
    return found


def configure_logging(found: Globals) -> None:
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


def _scrub_record(record: logging.LogRecord) -> bool:
    """A log filter: the message, its arguments merged in, scrubbed."""
    try:
        text = record.getMessage()
    except (TypeError, ValueError):  # arguments that do not fit the format: show both
        text = f"{record.msg} {record.args!r}"
    record.msg = SCRUB(text)
    record.args = ()
    return True


PLAN_STYLES = {
    "create": "green",
    "update": "yellow",
    "replace": "magenta",
    "retire": "red",
    "prune": "red",
    "orphan": "cyan",
    "danger": "bold red",
    "warning": "yellow",
}
"""rich's style for each of `render.STYLES`."""


def _no_color_flag() -> bool | None:
    """--no-color, for rich: True turns colour off; None leaves it to rich (NO_COLOR …)."""
    return True if globals_of(click.get_current_context()).no_color else None


def painter() -> Paint | None:
    """How to colour stdout, or None for no colour: rich's `Console` decides, the one place
    that does (a terminal or not, NO_COLOR, FORCE_COLOR, TERM=dumb), with --no-color on top.
    The views get the function and style names only, never rich."""
    from rich.console import COLOR_SYSTEMS, Console as RichConsole
    from rich.style import Style

    console = RichConsole(no_color=_no_color_flag())
    system = console.color_system
    if system is None or console.no_color:
        return None
    styles = {name: Style.parse(spec) for name, spec in PLAN_STYLES.items()}

    def paint(text: str, style: str) -> str:
        found = styles.get(style)
        return text if found is None else found.render(text, color_system=COLOR_SYSTEMS[system])

    return paint


def run_async(start: Callable[[], Awaitable[R]]) -> R:
    """Run `start()` on a fresh event loop; SIGINT and SIGTERM end it as `Interrupted`.

    SIGINT (asyncio's own handling) and SIGTERM cancel the work, so that it unwinds through
    its `finally` blocks (locks released, sessions closed); then `Interrupted`.
    """
    import asyncio
    import contextlib
    import signal

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
        done.append(await start())

    # The result is handed over outside the task: asyncio.run's SIGINT bookkeeping formats
    # the main task's repr on the way out, result included, which for a 10,000-address
    # plan took about a second.
    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        raise Interrupted("SIGINT", 130) from None
    except Stopped as stop:  # SIGTERM in a wait that blocked the loop (the state lock's)
        raise Interrupted(stop.signal_name, stop.exit_code) from None
    except asyncio.CancelledError:
        if terminated:
            raise Interrupted("SIGTERM", 143) from None
        raise
    return done[0]


def _raise_sigterm(signum: int, frame: object) -> None:
    raise Interrupted("SIGTERM", 143)


@contextmanager
def prompt_signals() -> Iterator[None]:
    """While a question blocks the event loop, Ctrl-C and SIGTERM raise at once.

    The loop's own handlers (asyncio.run's for SIGINT, `run_async`'s for SIGTERM) only
    schedule a cancellation, which cannot run while `input()` blocks: the process would keep
    waiting, and holding the state lock. Raising from the prompt unwinds `commands.apply`
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


class Console:
    """The terminal as `views.listeners.HumanListener` uses it: printing, the question, the
    clock and rich's live bar (on an interactive stderr outside CI only)."""

    def show(self, screen: Screen, *, color: bool = False) -> None:
        show(screen, color=color)

    def painter(self) -> Paint | None:
        return painter()

    def confirm(self, question: str) -> bool:
        """No answer (end of input) is a no; Ctrl-C and SIGTERM stop the run at once, as they
        would anywhere else in apply (see `prompt_signals`)."""
        with prompt_signals():
            try:
                return click.confirm(question)
            except click.Abort as stop:
                if isinstance(stop.__context__, KeyboardInterrupt):
                    raise stop.__context__ from None  # run_async reports SIGINT, exit 130
                return False  # EOFError: nobody answered

    def clock(self) -> str:
        import time

        return time.strftime("%H:%M:%S")

    @contextmanager
    def progress_bar(self, total: int) -> Iterator[ProgressBar | None]:
        import os

        if not (sys.stderr.isatty() and not os.environ.get("CI") and total > 0):
            yield None
            return
        from rich.console import Console as RichConsole
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        progress = Progress(
            TextColumn("applying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            console=RichConsole(stderr=True, no_color=_no_color_flag()),
            transient=True,
        )
        task = progress.add_task("apply", total=total, last="")
        with progress:
            yield _RichBar(progress, task)


class _RichBar:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def note(self, text: str, *, last: str) -> None:
        self._progress.console.print(SCRUB(text), markup=False, highlight=False)
        self._progress.update(self._task, last=last)

    def advance(self) -> None:
        self._progress.advance(self._task)


def event_writer() -> Callable[[str], None]:
    """Write `apply --json` lines to stdout, scrubbed and flushed as they come.

    If the reader has gone (a closed pipe), the apply goes on: stopping halfway through an
    address would be worse than losing the rest of the events.
    """
    gone: list[bool] = []

    def write(line: str) -> None:
        import os

        if gone:
            return
        try:
            sys.stdout.write(SCRUB(line))
            sys.stdout.flush()  # a dashboard reads the lines as they come
        except OSError:  # BrokenPipeError and the like
            gone.append(True)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush into the closed pipe
            os.close(devnull)
            click.echo("warning: stdout was closed; apply goes on without --json events", err=True)

    return write


def utc_now() -> str:
    """Now, as `apply --json` lines give it: ISO 8601 in UTC, to the millisecond."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
