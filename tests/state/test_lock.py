"""The file store's lock: the lock file's content, and a holder on another host.

What every store's lock does (one writer, the holder named, waiting, stale locks taken over,
unlock on purpose, a broken lock refusing writes) is in the contract suite, test_contract.py.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from jobspec.errors import LockError
from jobspec.state import FileStateStore, LockInfo


def test_lock_file_names_the_holder(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    with store.lock(operation="apply") as session:
        raw = json.loads(store.lock_path.read_text(encoding="utf-8"))
        assert set(raw) == {"id", "holder", "host", "pid", "operation", "created_at"}
        assert raw["pid"] == os.getpid()
        assert raw["host"] == socket.gethostname()
        assert raw["holder"].endswith("@" + socket.gethostname())
        assert store.lock_info() == session.lock_info
    assert store.lock_info() is None


def test_lock_left_on_another_host_is_not_taken_over(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    foreign = LockInfo(
        id="1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        holder="ci@runner-7",
        host="runner-7",
        pid=4242,
        operation="apply",
        created_at="2026-01-02T03:04:05Z",
    )
    store.lock_path.write_text(json.dumps(foreign.to_json()), encoding="utf-8")
    with pytest.raises(LockError, match="on another host") as info, store.lock(operation="a"):
        pytest.fail("unreachable")
    assert info.value.hint is not None and f"jobspec unlock {foreign.id}" in info.value.hint
    assert store.unlock(foreign.id) == foreign
    with store.lock(operation="apply") as session:
        assert session.warnings == []
