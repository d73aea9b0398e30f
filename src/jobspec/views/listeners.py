"""What a person or a program sees while apply runs: the human and the JSON listener.

Both implement `commands.apply.ApplyListener`. They build their lines from the views, and
leave the terminal itself to the CLI: a `Terminal` prints, asks and draws the live bar,
and `JsonListener` writes each event line through the `write` it is given. So these are pure
view code, pinned by golden files, with no click or rich here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from jobspec.plan import Plan, Step
from jobspec.render import Paint, plain
from jobspec.state import LockInfo
from jobspec.views import Screen, apply_event, lock_waiting, plan_view, step_fields

__all__ = ["HumanListener", "JsonListener", "ProgressBar", "Tally", "Terminal"]


class Tally:
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


class ProgressBar(Protocol):
    """A live bar of addresses finished, with the lines of the steps printed above it."""

    def note(self, text: str, *, last: str) -> None:
        """Print `text` above the bar; `last` is the address it shows as the latest."""

    def advance(self) -> None:
        """One more address finished."""


class Terminal(Protocol):
    """The terminal as the human listener uses it (the CLI's runtime provides one)."""

    def show(self, screen: Screen, *, color: bool = False) -> None:
        """Print a view: `out` on stdout, `err` on stderr."""

    def painter(self) -> Paint | None:
        """How to colour stdout; None when it takes no colour."""

    def confirm(self, question: str) -> bool:
        """Ask; no answer is a no. An interruption raises."""

    def clock(self) -> str:
        """The time of day for a progress line (HH:MM:SS)."""

    def progress_bar(self, total: int) -> AbstractContextManager[ProgressBar | None]:
        """A live bar for `total` addresses, or None where there is none (CI logs, pipes)."""


class HumanListener:
    """Apply as a person sees it: the plan, a question, and a live bar on a terminal or
    plain timestamped lines elsewhere (CI logs)."""

    def __init__(self, terminal: Terminal, *, auto_approve: bool) -> None:
        self._terminal = terminal
        self._auto_approve = auto_approve
        self._bar: ProgressBar | None = None
        self.tally = Tally()

    def lock_wait(self, holder: LockInfo) -> None:
        self._terminal.show(lock_waiting(holder))

    def warning(self, text: str) -> None:
        self._terminal.show(Screen(err=f"warning: {text}\n"))

    def planned(self, plan: Plan) -> None:
        paint = self._terminal.painter()
        shown = plan_view(plan, output_format="text", paint=paint or plain)
        self._terminal.show(shown, color=paint is not None)

    def confirm(self, plan: Plan) -> bool:
        """Ask on the terminal, unless --auto-approve."""
        return self._auto_approve or self._terminal.confirm("Apply these changes?")

    @contextmanager
    def applying(self, plan: Plan) -> Iterator[None]:
        total = self.tally.begin(plan)  # the bar counts the addresses that have steps
        with self._terminal.progress_bar(total) as bar:
            self._bar = bar
            try:
                yield
            finally:
                self._bar = None

    def step(self, address: str, message: str) -> None:
        self.tally.step()
        if self._bar is None:
            self._terminal.show(Screen(err=f"{self._terminal.clock()} {address}: {message}\n"))
            return
        self._bar.note(f"{address}: {message}", last=address)

    def done(self, address: str, ok: bool) -> None:
        if self.tally.done(address) and self._bar is not None:
            self._bar.advance()

    def step_event(self, address: str, step: Step, status: str, detail: str | None) -> None:
        pass  # people read `step` messages; `apply --json` reads these


class JsonListener:
    """`apply --json`: one JSON object a line (`views.apply_event`), through `write`.

    Never asks: the command requires --auto-approve or a plan file with --json. `now` gives
    each line's time (ISO 8601, UTC).
    """

    def __init__(self, *, write: Callable[[str], None], now: Callable[[], str]) -> None:
        self._write = write
        self._now = now
        self._plan: Plan | None = None
        self.tally = Tally()

    def emit(self, event: str, **fields: object) -> None:
        self._write(apply_event(event, time=self._now(), **fields))

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
        assert self._plan is not None
        self.emit("step", address=address, **step_fields(self._plan, step, status, detail))
