"""Group commit in a real apply: every mutating call is sent only after its intent is on disk.

The journal's fdatasync is replaced by a recorder of how many bytes each call made durable;
the client's mutating calls are wrapped to check, at the moment each is sent, that the
intent naming its job ends within those bytes.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from jobspec import state as state_module
from jobspec.client import DryvIQClient
from tests.e2e.conftest import Workspace, standard_specs


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


def test_each_mutating_call_waits_for_its_intent_on_disk(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    if ws.state_url is not None:
        pytest.skip("group commit is the file store's; PostgreSQL commits per statement")
    standard_specs(ws)
    journal = ws.state_path.with_name(ws.state_path.name + ".journal")
    durable = [0]
    off_loop: list[bool] = []

    def recorder(fd: int) -> None:
        durable[0] = max(durable[0], os.fstat(fd).st_size)
        off_loop.append(threading.current_thread() is not threading.main_thread())

    monkeypatch.setattr(state_module, "_datasync", recorder)
    checked: list[str] = []

    def guarded(name: str) -> Any:
        real = getattr(DryvIQClient, name)

        async def call(self: DryvIQClient, job_id: str, *args: Any, **kwargs: Any) -> Any:
            assert _intent_end(journal, job_id) <= durable[0], f"{name} {job_id} before its intent"
            checked.append(name)
            return await real(self, job_id, *args, **kwargs)

        return call

    for name in ("clone", "patch", "delete"):
        monkeypatch.setattr(DryvIQClient, name, guarded(name))
    ws.cli("apply", "--auto-approve")
    assert sorted(checked) == ["clone", "clone", "clone", "delete", "patch"]
    assert any(off_loop), "every journal sync ran on the event loop's thread"
    ws.assert_converged()
