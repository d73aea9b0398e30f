"""Golden files for what apply shows while it runs: the human listener and `apply --json`.

The listeners are view code: a fake terminal and a fixed clock stand in for the CLI's, so
every line a person or a dashboard sees is pinned here, the live bar's included.
Regenerate after an intended change with `JOBSPEC_UPDATE_GOLDEN=1 pytest tests/views`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jobspec.model import OriginalPolicy
from jobspec.plan import Action, ActionKind, Plan, Step, StepOp
from jobspec.state import LockInfo
from jobspec.views import Screen
from jobspec.views.listeners import HumanListener, JsonListener, ProgressBar, Tally

GOLDEN = Path(__file__).parent / "golden"
SOURCE, CLONE = "c4d8c04a69224ef0bfaa2f8e920b8792", "0f3a" + "e" * 28
HOLDER = LockInfo(
    id="7b1e", holder="ci@runner-3", host="runner-3", pid=4242, operation="apply",
    created_at="2026-11-29T06:00:00Z",
)  # fmt: skip


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("JOBSPEC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


def a_plan() -> Plan:
    """Two addresses with steps (one clones, one patches) and one with none."""
    clone = Step(op=StepOp.clone, job_id=SOURCE, role="source", body={"name": "Finance (f)"})
    patch = Step(op=StepOp.patch, job_id=CLONE, role="clone", body={"priority": "high"})
    common = {"reasons": ["spec"], "source_id": SOURCE, "original": OriginalPolicy.manual}
    return Plan(
        lineage="L",
        serial=3,
        actions=[
            Action(address="finance", kind=ActionKind.create, steps=[clone], **common),
            Action(address="hr", kind=ActionKind.update, clone_id=CLONE, steps=[patch], **common),
            Action(address="legal", kind=ActionKind.noop, clone_id=CLONE, **common),
        ],
    )


class FakeBar:
    def __init__(self, said: list[str]) -> None:
        self.said = said

    def note(self, text: str, *, last: str) -> None:
        self.said.append(f"[bar] {text} (last: {last})")

    def advance(self) -> None:
        self.said.append("[bar] +1")


class FakeTerminal:
    """Records what the listener shows; `answer` is the reply to the question; `bar` whether
    there is a live bar (an interactive terminal outside CI)."""

    def __init__(self, *, answer: bool = True, bar: bool = False) -> None:
        self.said: list[str] = []
        self.answer = answer
        self.bar = bar

    def show(self, screen: Screen, *, color: bool = False) -> None:
        if screen.out:
            self.said.append(f"[out] {screen.out}")
        if screen.err:
            self.said.append(f"[err] {screen.err}")

    def painter(self) -> None:
        return None

    def confirm(self, question: str) -> bool:
        self.said.append(f"[ask] {question} {'y' if self.answer else 'n'}\n")
        return self.answer

    def clock(self) -> str:
        return "06:00:01"

    @contextmanager
    def progress_bar(self, total: int) -> Iterator[ProgressBar | None]:
        if not self.bar:
            yield None
            return
        self.said.append(f"[bar] start, {total} address(es)\n")
        yield FakeBar(self.said)
        self.said.append("[bar] end\n")


def run_through(listener: HumanListener | JsonListener, plan: Plan) -> None:
    """An apply as `commands.apply` drives a listener: lock, plan, question, steps."""
    listener.lock_wait(HOLDER)
    listener.warning("the journal had a torn last line; it was dropped")
    listener.planned(plan)
    assert listener.confirm(plan)
    with listener.applying(plan):
        for action in plan.actions:
            for step in action.steps:
                listener.step_event(action.address, step, "started", None)
                listener.step(action.address, f"{step.op.value} done")
                listener.step_event(action.address, step, "done", None)
            listener.done(action.address, True)


@pytest.mark.parametrize("bar", [False, True], ids=["lines", "bar"])
def test_human_listener(bar: bool) -> None:
    terminal = FakeTerminal(bar=bar)
    listener = HumanListener(terminal, auto_approve=False)
    run_through(listener, a_plan())
    name = "listener.bar.txt" if bar else "listener.lines.txt"
    check_golden(
        name, "".join(line if line.endswith("\n") else line + "\n" for line in terminal.said)
    )
    assert (listener.tally.steps, listener.tally.finished, listener.tally.total) == (2, 2, 2)


def test_auto_approve_asks_nothing() -> None:
    terminal = FakeTerminal(answer=False)
    assert HumanListener(terminal, auto_approve=True).confirm(a_plan())
    assert not terminal.said


def test_no_answer_is_a_no() -> None:
    assert not HumanListener(FakeTerminal(answer=False), auto_approve=False).confirm(a_plan())


def test_json_listener() -> None:
    lines: list[str] = []
    listener = JsonListener(write=lines.append, now=lambda: "2026-11-29T06:00:01.000Z")
    run_through(listener, a_plan())
    listener.emit("summary", ok=True)
    check_golden("listener.json.txt", "".join(lines))
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)


@pytest.mark.parametrize(
    ("steps", "done", "total", "finished"),
    [
        ([], [], None, 0),  # applying never began
        (["finance"], ["finance", "legal"], 2, 1),  # legal has no steps: not counted
        (["finance", "hr"], ["finance", "hr", "legal"], 2, 2),
    ],
)
def test_tally(steps: list[str], done: list[str], total: int | None, finished: int) -> None:
    tally = Tally()
    if total is not None:
        assert tally.begin(a_plan()) == total
    for _ in steps:
        tally.step()
    for address in done:
        tally.done(address)
    assert (tally.steps, tally.finished, tally.total) == (len(steps), finished, total)
