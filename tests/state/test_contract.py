"""The store contract: what every state store must do, run against each store in turn.

Terraform's statemgr has one conformance test (`TestFull`) every backend passes; this is
ours. Each test runs twice, `[file]` (a state file in tmp_path) and `[postgresql]` (a
workspace of its own in the throwaway database; skipped without `JOBSPEC_TEST_PG`). What one
store does its own way (journal lines and flock, journal rows and advisory locks, schema,
connection errors) is tested beside it: tests/state/test_journal.py, test_lock.py,
tests/pg/test_store.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic_core import PydanticSerializationError

from jobspec.errors import LockError, StateError
from jobspec.model import OriginalPolicy, StateEntry
from jobspec.state import (
    FileStateStore,
    LockInfo,
    PostgresStateStore,
    State,
    StateStore,
    open_state_store,
    transfer_state,
)

from .helpers import kill, make_entry, spawn, wait_for_line

# A holder in another process that recorded an intent, then waits to be killed.
HOLD_LOCK = """
    import sys, threading
    from jobspec.state import open_state_store
    with open_state_store(sys.argv[1]).lock(operation="apply") as session:
        session.record_intent("a", "clone", target="f" * 32, name="A")
        print("ready", flush=True)
        threading.Event().wait()
"""

# Holds the lock, then writes once more when told to (a line on stdin), printing the outcome.
STUCK = """
    import sys
    from jobspec.state import open_state_store
    from tests.state.helpers import make_entry
    try:
        with open_state_store(sys.argv[1]).lock(operation="apply") as session:
            session.put("a", make_entry(1))
            print("ready", flush=True)
            sys.stdin.readline()
            session.put("late", make_entry(9))
    except Exception as exc:
        print(type(exc).__name__, exc.message.split(";")[0], flush=True)
"""

OpenStore = Callable[..., StateStore]


@pytest.fixture(params=["file", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the store under test lives: a state file, or a PostgreSQL workspace URL."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_state_url")
        return url
    return str(tmp_path / "jobspec.state.json")


@pytest.fixture
def open_store(location: str) -> OpenStore:
    """A store at `location`, with the constructor options both stores share."""

    def make(**options: int) -> StateStore:
        if location.startswith("postgresql://"):
            return PostgresStateStore(location, **options)
        return FileStateStore(location, **options)

    return make


@pytest.fixture
def store(open_store: OpenStore) -> StateStore:
    return open_store()


# --- reading and writing ------------------------------------------------------------------------


def test_a_new_store_reads_as_no_state(store: StateStore) -> None:
    state = store.read()
    assert state == State()
    assert (state.lineage, state.serial, dict(state.entries), state.pending) == (None, 0, {}, ())
    assert store.lock_info() is None


def test_a_lock_without_writes_leaves_no_state(store: StateStore) -> None:
    with store.lock(operation="plan") as session:
        assert session.state == State()
        assert session.warnings == []
    assert store.read() == State()


def test_every_write_bumps_the_serial_and_lineage_is_fixed(store: StateStore) -> None:
    with store.lock(operation="apply") as session:
        assert session.state.serial == 0 and session.state.lineage is None
        intent = session.record_intent("a", "clone", target="f" * 32, name="A")
        assert session.state.serial == 1
        lineage = session.state.lineage
        assert lineage is not None
        session.complete(intent, put=make_entry(1))
        session.put("b", make_entry(2))
        other = session.record_intent("b", "delete", target="e" * 32)
        session.abandon(other, "not needed")
        session.remove("b")
        assert session.state.serial == 6
    state = store.read()
    assert (state.serial, state.lineage, list(state.entries)) == (6, lineage, ["a"])
    assert state.entries["a"] == make_entry(1)
    with store.lock(operation="apply") as session:
        session.put("c", make_entry(3))
    assert (store.read().lineage, store.read().serial) == (lineage, 7)


def test_move_gives_an_entry_to_another_address_in_one_write(store: StateStore) -> None:
    with store.lock(operation="state mv") as session:
        session.put("a", make_entry(1))
        session.put("b", make_entry(2))
        with pytest.raises(StateError, match="already has an entry"):
            session.move("a", "b")
        with pytest.raises(StateError, match="no entry"):
            session.move("x", "y")
        session.move("a", "c")
        assert session.state.serial == 3
        assert list(store.read().entries) == ["b", "c"]  # the journal's record, replayed
    state = store.read()  # and folded into the snapshot
    assert (dict(state.entries), state.serial) == ({"b": make_entry(2), "c": make_entry(1)}, 3)


def test_a_reader_without_the_lock_sees_every_committed_write(store: StateStore) -> None:
    with store.lock(operation="apply") as session:
        session.put("x", make_entry(0))
    with store.lock(operation="apply") as session:
        first = session.record_intent("a", "clone", target="f" * 32)
        session.complete(first, put=make_entry(1))
        session.record_intent("b", "clone", target="e" * 32, name="B")
        session.put("x", make_entry(9))
        assert store.read() == session.state  # before any checkpoint: snapshot + journal
        assert session.entries == {"x": make_entry(9), "a": make_entry(1)}
    state = store.read()
    assert state.entries == {"x": make_entry(9), "a": make_entry(1)}
    assert [intent.details["name"] for intent in state.pending_intents()] == ["B"]


def test_pending_intents_survive_checkpoints(open_store: OpenStore) -> None:
    store = open_store(checkpoint_lines=2)
    with store.lock(operation="apply") as session:
        intent = session.record_intent("a", "clone", target="f" * 32, name="A")
        for i in range(5):  # enough records for automatic checkpoints in between
            session.put(f"p{i}", make_entry(i))
        assert session.pending_intents() == [intent]
        session.checkpoint()
        assert session.pending_intents() == [intent]
    [pending] = store.read().pending_intents()
    assert pending == intent and pending.target == "f" * 32 and pending.details["name"] == "A"
    with store.lock(operation="apply") as session:
        [again] = session.pending_intents()
        assert again == intent
        session.complete(again, put=make_entry(42))
    state = store.read()
    assert state.pending_intents() == []
    assert state.entries["a"] == make_entry(42)
    assert state.serial == 7


def test_session_misuse_is_a_bug_not_a_state_error(store: StateStore) -> None:
    with store.lock(operation="apply") as session:
        intent = session.record_intent("a", "clone", target="f" * 32)
        session.abandon(intent, "changed my mind")
        with pytest.raises(ValueError, match="not pending"):
            session.complete(intent)
        with pytest.raises(ValueError, match="not both"):
            session.complete(intent, put=make_entry(1), remove=True)
        with pytest.raises(StateError, match="no entry for `nope`"):
            session.remove("nope")
        with pytest.raises(TypeError, match="job id string"):
            session.record_intent("a", "clone", target=7)
    with pytest.raises(RuntimeError, match="closed"):
        session.put("late", make_entry(1))


def test_an_unserialisable_change_is_refused_and_the_session_goes_on(store: StateStore) -> None:
    bad = StateEntry(
        source_id="a" * 32,
        clone_id="b" * 32,
        original=OriginalPolicy.keep,
        applied={"when": object()},
        applied_digest="x",
    )
    with store.lock(operation="apply") as session:
        session.put("ok", make_entry(1))
        with pytest.raises(PydanticSerializationError):
            session.put("bad", bad)
        with pytest.raises(TypeError):
            session.record_intent("bad", "clone", target="f" * 32, when=object())
        assert session.state.serial == 1
        assert store.read() == session.state
        session.put("after", make_entry(2))
    assert sorted(store.read().entries) == ["after", "ok"]
    assert store.read().serial == 2


# --- replacing and moving the whole state -------------------------------------------------------


def test_replace_makes_a_whole_state_current_at_once(store: StateStore, tmp_path: Path) -> None:
    with FileStateStore(tmp_path / "elsewhere.json").lock(operation="apply") as other:
        other.put("x", make_entry(1))
        other.record_intent("y", "clone", target="f" * 32, name="Y")
        incoming = replace(other.state, serial=40)
    with store.lock(operation="apply") as session:
        session.put("old", make_entry(9))
        with pytest.raises(ValueError, match="lineage"):
            session.replace(State())
        session.replace(incoming)
        assert session.state == incoming
        assert store.read() == incoming
        session.put("z", make_entry(3))  # writing goes on from the new serial
    state = store.read()
    assert (state.lineage, state.serial) == (incoming.lineage, 41)
    assert sorted(state.entries) == ["x", "z"]
    assert state.pending_intents() == incoming.pending_intents()


def test_state_is_pushed_in_and_pulled_out_unchanged(store: StateStore, tmp_path: Path) -> None:
    local = FileStateStore(tmp_path / "local.json")
    with local.lock(operation="apply") as session:
        session.put("a", make_entry(1))
        session.record_intent("b", "clone", target="e" * 32, name="B")
    pushed = transfer_state(source=local, target=store, force=False, what="push")
    assert pushed.before == State() and pushed.after == local.read()
    assert store.read() == local.read()
    again = transfer_state(source=local, target=store, force=False, what="push")
    assert again.after is None  # already there: nothing written
    with store.lock(operation="apply") as session:
        session.put("c", make_entry(3))
    with pytest.raises(StateError, match="the source is older"):
        transfer_state(source=local, target=store, force=False, what="push")
    back = FileStateStore(tmp_path / "back.json")
    transfer_state(source=store, target=back, force=False, what="pull")
    assert back.read() == store.read()
    assert store.lock_info() is None and back.lock_info() is None


# --- the lock -----------------------------------------------------------------------------------


def test_the_lock_names_its_holder(store: StateStore) -> None:
    with store.lock(operation="apply") as session:
        held = session.lock_info
        host = socket.gethostname()
        assert (held.pid, held.host, held.operation) == (os.getpid(), host, "apply")
        assert held.holder.endswith("@" + host)
        assert store.lock_info() == held
    assert store.lock_info() is None


def test_a_second_lock_fails_at_once_naming_the_holder(store: StateStore) -> None:
    with store.lock(operation="apply") as session:
        with pytest.raises(LockError) as info, store.lock(operation="plan"):
            pytest.fail("the second lock must not be granted")
        held = session.lock_info
        for part in (held.id, held.holder, f"pid {os.getpid()}", "`apply`", held.created_at):
            assert part in info.value.message
        assert info.value.hint is not None and f"jobspec unlock {held.id}" in info.value.hint
        assert store.lock_info() == held
        session.put("a", make_entry(1))  # the refused attempt did not disturb the holder
    assert store.lock_info() is None
    assert list(store.read().entries) == ["a"]


def test_a_lock_timeout_expires_with_a_lock_error(store: StateStore) -> None:
    with (
        store.lock(operation="first"),
        pytest.raises(LockError, match="`first`"),
        store.lock(timeout=0.05, operation="second"),
    ):
        pytest.fail("unreachable")


def test_a_lock_with_a_timeout_waits_until_released(store: StateStore) -> None:
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
        assert "from-first" in session.state.entries  # it really waited for the first
    thread.join(30)
    assert not errors
    assert [info.operation for info in seen] == ["first"]


def test_a_killed_holder_leaves_its_intent_and_a_lock_that_is_taken_over(
    store: StateStore, location: str
) -> None:
    child = spawn(HOLD_LOCK, location)
    try:
        wait_for_line(child, "ready")
        with pytest.raises(LockError, match=f"pid {child.pid}"), store.lock(operation="plan"):
            pytest.fail("a live holder in another process must win")
        dead = store.lock_info()
        assert dead is not None and dead.pid == child.pid and dead.operation == "apply"
    finally:
        kill(child)
    with store.lock(operation="apply") as session:
        [warning] = session.warnings
        assert "stale lock" in warning and f"pid {child.pid}" in warning and dead.id in warning
        assert session.lock_info.id != dead.id
        [intent] = session.pending_intents()  # committed before the kill: it survives
        assert (intent.address, intent.op, intent.target) == ("a", "clone", "f" * 32)
        assert intent.details["name"] == "A"
    assert store.lock_info() is None
    assert store.read().pending_intents() == [intent]


def test_unlock_needs_the_right_id(store: StateStore) -> None:
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


def test_a_broken_lock_stops_its_holder_from_writing(store: StateStore) -> None:
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


def test_a_stuck_holder_is_unlocked_and_then_refused_when_it_writes(
    store: StateStore, location: str
) -> None:
    """The holder is alive but stuck: unlock lets the next run in at once, nothing killed."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(STUCK), location],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        stuck = store.lock_info()
        assert stuck is not None and stuck.pid == child.pid
        assert store.unlock(stuck.id) == stuck
        with store.lock(operation="second") as second:
            assert second.warnings == []  # broken on purpose, not taken over
            second.put("b", make_entry(2))
            child.stdin.write("go\n")
            child.stdin.flush()
            outcome = child.stdout.readline().strip()
        assert outcome.startswith("LockError ") and "was broken" in outcome
    finally:
        child.kill()
        child.communicate(timeout=30)
    state = store.read()
    assert sorted(state.entries) == ["a", "b"] and "late" not in state.entries


def test_a_location_opens_the_store_it_names(store: StateStore, location: str) -> None:
    opened = open_state_store(location)
    assert type(opened) is type(store) and opened.location == store.location
