"""Settling a start whose outcome is unknown (`applier.recover`): a run since the call means
it started, and it is never started again; none means it was not, and the plan starts it.
Against a real state file and a small fake API (the `Api` methods recover calls)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from jobspec.applier import recover
from jobspec.model import CutoverPhase, CutoverRecord, StateEntry, digest
from jobspec.state import FileStateStore

SOURCE = "a" * 32
CLONE = "c" * 32


class RunsApi:
    """A server whose only job is the clone, with `latest` as its newest run."""

    def __init__(self, latest: dict[str, Any] | None) -> None:
        self.latest = latest
        self.server_time: float | None = 2000.0
        self.starts = 0

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
