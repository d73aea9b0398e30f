"""Settling a start whose outcome is unknown (`applier.recover`): a run since the call means
it started, and it is never started again; none means it was not, and the plan starts it.
Against a real state file and a small fake API (the `Api` methods recover calls)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from jobspec.applier import recover
from jobspec.errors import GateRefused
from jobspec.firstrun import RunWait, StillRunning, await_run
from jobspec.model import CutoverPhase, CutoverRecord, StateEntry, digest
from jobspec.plan import Step, StepOp
from jobspec.state import FileStateStore

SOURCE = "a" * 32
CLONE = "c" * 32


class RunsApi:
    """A server whose only job is the clone, with `latest` as its newest run."""

    def __init__(self, latest: dict[str, Any] | None) -> None:
        self.latest = latest
        self.server_time: float | None = 2000.0
        self.starts = 0
        self.patches: list[str] = []

    async def patch(self, job_id: str, body: dict[str, Any]) -> None:
        self.patches.append(job_id)

    async def latest_execution(self, job_id: str) -> dict[str, Any] | None:
        assert job_id == CLONE
        return self.latest

    async def control(self, job_id: str, action: str) -> None:
        self.starts += 1


@pytest.mark.parametrize(
    ("latest", "phase", "note"),
    [
        ({"id": 1, "status": "running", "start_time": 1000}, "started", "started in an"),
        ({"id": 1, "status": "completed", "start_time": 1001}, "started", "started in an"),
        ({"id": 1, "status": "completed", "start_time": 500}, "cloned", "made no run"),  # older
        (None, "cloned", "made no run"),
    ],
)
def test_an_interrupted_start_is_settled_by_looking(
    tmp_path: Path, latest: dict[str, Any] | None, phase: str, note: str
) -> None:
    store = FileStateStore(tmp_path / "state.json")
    entry = StateEntry(
        source_id=SOURCE,
        clone_id=CLONE,
        original="manual",
        applied={},
        applied_digest=digest({}),
        cutover=CutoverRecord(phase=CutoverPhase.cloned),
    )
    with store.lock(operation="test") as session:
        session.put("finance", entry)
        session.record_intent("finance", "start", target=CLONE, not_before=1000.0)
    api = RunsApi(latest)
    with store.lock(operation="test") as session:
        notes = asyncio.run(recover(session, api=api, settle=0))  # type: ignore[arg-type]
        assert not session.pending_intents()
    (said,) = notes
    assert note in said
    recorded = store.read().entries["finance"].cutover
    assert recorded is not None and recorded.phase.value == phase
    assert api.starts == 0  # settling never starts a run


class FakeClock:
    """A clock that moves only when the wait sleeps: no wall time in the test."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _started_entry(*, held: bool) -> StateEntry:
    record = CutoverRecord(
        phase=CutoverPhase.started,
        original_held=held,
        original_schedule={"mode": "auto"} if held else None,
    )
    return StateEntry(
        source_id=SOURCE,
        clone_id=CLONE,
        original="manual",
        applied={},
        applied_digest=digest({}),
        cutover=record,
    )


def test_apply_wait_is_one_deadline_for_the_run_not_one_per_address(tmp_path: Path) -> None:
    """Issue 25's `--wait` stays bounded behind issue 26's pair slots: an address admitted
    late waits only what is left of the run's deadline."""
    clock = FakeClock()
    wait = RunWait(timeout=10.0, first_pause=1.0, clock=clock, sleep=clock.sleep).started()
    clock.now += 8.0  # the run spent 8 s on earlier addresses before this one's turn
    api = RunsApi({"id": 1, "status": "running", "start_time": 1000})
    step = Step(op=StepOp.await_run, job_id=CLONE, role="clone", body={"accept": []})
    store = FileStateStore(tmp_path / "state.json")
    with store.lock(operation="test") as session, pytest.raises(StillRunning):
        session.put("finance", _started_entry(held=False))
        asyncio.run(
            await_run(
                "finance",
                step,
                _started_entry(held=False),
                api=api,  # type: ignore[arg-type]
                journal=session,
                wait=wait,
                say=lambda text: None,
            )
        )
    assert sum(clock.slept) <= 2.0, clock.slept  # not another 10 s


def test_a_failed_cutover_puts_the_original_back_only_through_the_gate(tmp_path: Path) -> None:
    """The restore PATCH of a failed cutover is a mutating call: it asks the gate first."""
    api = RunsApi({"id": 1, "status": "failed", "start_time": 1000})
    asked: list[tuple[StepOp, str | None]] = []

    def refuse(step: Step) -> None:
        asked.append((step.op, step.job_id))
        raise GateRefused("not sent: restore")

    async def no_clone(job_id: str) -> None:
        return None  # the clone is gone: nothing to park

    api.get_job = no_clone  # type: ignore[attr-defined]
    step = Step(op=StepOp.await_run, job_id=CLONE, role="clone", body={"accept": []})
    store = FileStateStore(tmp_path / "state.json")
    with store.lock(operation="test") as session, pytest.raises(GateRefused):
        session.put("finance", _started_entry(held=True))
        asyncio.run(
            await_run(
                "finance",
                step,
                _started_entry(held=True),
                api=api,  # type: ignore[arg-type]
                journal=session,
                wait=RunWait(),
                say=lambda text: None,
                gate=refuse,
            )
        )
    assert asked == [(StepOp.restore, SOURCE)]
    assert api.patches == []
