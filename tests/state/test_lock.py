"""The state lock: one writer, a holder that is named, stale locks taken over, unlock on purpose."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from jobspec.errors import LockError, StateError
from jobspec.state import FileStateStore, LockInfo

from .helpers import kill, make_entry, spawn, wait_for_line

HOLD_LOCK = """
    import sys, threading
    from jobspec.state import FileStateStore
    store = FileStateStore(sys.argv[1])
    with store.lock(operation="apply") as session:
        print("ready", flush=True)
        threading.Event().wait()
"""


def test_second_lock_in_one_process_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    with store.lock(operation="apply") as session:
        with pytest.raises(LockError) as info, store.lock(operation="plan"):
            pytest.fail("the second lock must not be granted")
        held = session.lock_info
        message = info.value.message
        for part in (held.id, held.holder, f"pid {os.getpid()}", "`apply`", held.created_at):
            assert part in message
        assert info.value.hint is not None and f"jobspec unlock {held.id}" in info.value.hint
        session.put("a", make_entry(1))  # the refused attempt did not disturb the holder
    assert not store.lock_path.exists()
    assert list(store.read().entries) == ["a"]


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


def test_lock_with_timeout_waits_until_released(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    holder_in = threading.Event()
    waiter_waiting = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with store.lock(operation="first") as session:
                holder_in.set()
                assert waiter_waiting.wait(30)
                session.put("from-first", make_entry(1))
        except BaseException as exc:
            errors.append(exc)
            holder_in.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert holder_in.wait(30)
    seen: list[LockInfo] = []

    def on_wait(info: LockInfo) -> None:
        seen.append(info)
        waiter_waiting.set()

    with store.lock(timeout=30, operation="second", on_wait=on_wait) as session:
        assert "from-first" in session.state.entries  # it really waited for the first to finish
    thread.join(30)
    assert not errors
    assert [info.operation for info in seen] == ["first"]


def test_lock_timeout_expires_with_lock_error(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    with (
        store.lock(operation="first"),
        pytest.raises(LockError, match="`first`"),
        store.lock(timeout=0.05, operation="second"),
    ):
        pytest.fail("unreachable")


def test_lock_of_a_killed_process_is_reported_stale_and_taken_over(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    child = spawn(HOLD_LOCK, str(store.path))
    try:
        wait_for_line(child, "ready")
        with pytest.raises(LockError, match=f"pid {child.pid}"), store.lock(operation="plan"):
            pytest.fail("a live holder in another process must win")
        dead = store.lock_info()
        assert dead is not None and dead.pid == child.pid
    finally:
        kill(child)
    with store.lock(operation="apply") as session:
        [warning] = session.warnings
        assert "stale lock" in warning
        assert f"pid {child.pid}" in warning and dead.id in warning
        assert session.lock_info.id != dead.id
        session.put("a", make_entry(1))
    assert not store.lock_path.exists()


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


def test_unlock_needs_the_right_id(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    with pytest.raises(StateError, match="is not locked"):
        store.unlock("anything")
    with store.lock(operation="apply") as session:
        real = session.lock_info.id
        with pytest.raises(StateError) as info:
            store.unlock("wrong-id")
        assert real in info.value.message and "wrong-id" in info.value.message
        assert store.lock_info() == session.lock_info  # still held
        assert store.unlock(real) == session.lock_info
        assert store.lock_info() is None


def test_a_broken_lock_stops_its_holder_from_writing(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    with (
        pytest.raises(LockError, match="was broken"),  # raised again when `first` checkpoints
        store.lock(operation="first") as first,
    ):
        first.put("a", make_entry(1))
        store.unlock(first.lock_info.id)
        with store.lock(operation="second") as second:
            assert "a" in second.state.entries  # the first's journal records are kept
            second.put("b", make_entry(2))
            with pytest.raises(LockError, match="was broken"):
                first.put("c", make_entry(3))
            assert store.lock_info() == second.lock_info
    assert store.lock_info() is None
    state = store.read()
    assert sorted(state.entries) == ["a", "b"]
    assert state.serial == 2
