"""Group commit in a real apply: every mutating call is sent only after its intent is on disk.

The apply runs in process (`Workspace.apply_on`, as the CLI does) on a file store given a
recorder as its `datasync` (through `SyncSeam`), which notes how many bytes each call made
durable; the client's mutating calls are wrapped to check, at the moment each is sent, that the
intent naming its job ends within those bytes.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from jobspec.api import ForwardingApi
from jobspec.client import DryvIQClient
from jobspec.model import LiveJob
from jobspec.state import FileStateStore
from tests.e2e.conftest import Workspace, standard_specs
from tests.state.helpers import SyncSeam


def _intent_end(journal: Path, target: str) -> int:
    """The byte offset where the last intent acting on `target` ends in the journal."""
    end = offset = 0
    for line in journal.read_bytes().splitlines(keepends=True):
        offset += len(line)
        record = json.loads(line)
        if record.get("kind") == "intent" and record["details"].get("target") == target:
            end = offset
    assert end, f"no intent names {target}"
    return end


class CheckedApi(ForwardingApi):
    """The real client, with `check(call, job_id)` run as each mutating call is sent."""

    def __init__(self, client: DryvIQClient, check: Callable[[str, str], None]) -> None:
        super().__init__(client)
        self._check = check

    async def clone(self, source_id: str, body: Mapping[str, Any]) -> LiveJob:
        self._check("clone", source_id)
        return await self.inner.clone(source_id, body)

    async def patch(self, job_id: str, body: Mapping[str, Any]) -> LiveJob:
        self._check("patch", job_id)
        return await self.inner.patch(job_id, body)

    async def delete(self, job_id: str) -> bool:
        self._check("delete", job_id)
        return await self.inner.delete(job_id)


def test_each_mutating_call_waits_for_its_intent_on_disk(ws: Workspace) -> None:
    if ws.state_url is not None:
        pytest.skip("group commit is the file store's; PostgreSQL commits per statement")
    standard_specs(ws)
    journal = ws.state_path.with_name(ws.state_path.name + ".journal")
    durable = [0]
    off_loop: list[bool] = []

    def recorder(fd: int) -> None:
        durable[0] = max(durable[0], os.fstat(fd).st_size)
        off_loop.append(threading.current_thread() is not threading.main_thread())

    checked: list[str] = []

    def check(name: str, job_id: str) -> None:
        assert _intent_end(journal, job_id) <= durable[0], f"{name} {job_id} before its intent"
        checked.append(name)

    outcome = ws.apply_on(
        FileStateStore(ws.state_path, fs=SyncSeam(recorder)),
        wrap=lambda client: CheckedApi(client, check),
    )
    assert outcome.result is not None and outcome.result.ok
    assert sorted(checked) == ["clone", "clone", "clone", "delete", "patch"]
    assert any(off_loop), "every journal sync ran on the event loop's thread"
    ws.assert_converged()
