"""The PostgreSQL store against a real server: the file store's guarantees, one by one.

Each test has a workspace of its own (`pg_state_url`) in the session's throwaway database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid

import pytest

from jobspec.errors import LockError, StateError
from jobspec.state import LockInfo
from jobspec.state_pg import SCHEMA_VERSION, PostgresStateStore
from jobspec.state_url import parse_location
from tests.pg.support import execute, journal_records
from tests.state.helpers import kill, make_entry, spawn, wait_for_line

HOLD_LOCK = """
    import sys, threading
    from jobspec.state_pg import PostgresStateStore
    with PostgresStateStore(sys.argv[1]).lock(operation="apply") as session:
        session.record_intent("a", "clone", target="f" * 32, name="A")
        print("ready", flush=True)
        threading.Event().wait()
"""

# Holds the lock, then writes once more when told to (a line on stdin), printing the outcome.
STUCK = """
    import sys
    from jobspec.state_pg import PostgresStateStore
    from tests.state.helpers import make_entry
    try:
        with PostgresStateStore(sys.argv[1]).lock(operation="apply") as session:
            session.put("a", make_entry(1))
            print("ready", flush=True)
            sys.stdin.readline()
            session.put("late", make_entry(9))
    except Exception as exc:
        print(type(exc).__name__, exc.message.split(";")[0], flush=True)
"""


def test_every_write_bumps_the_serial_and_lineage_is_fixed(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url)
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


def test_each_write_is_one_journal_row_until_the_checkpoint(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url)
    with store.lock(operation="apply") as session:
        session.put("x", make_entry(0))
        intent = session.record_intent("y", "clone", target="f" * 32, name="Y")
        session.complete(intent, put=make_entry(1))
        records = journal_records(pg_state_url)
        assert [(r["serial"], r["kind"]) for r in records] == [
            (1, "put"),
            (2, "intent"),
            (3, "done"),
        ]
        # a reader without the lock replays the journal onto the snapshot: the session's state
        assert store.read() == session.state
    assert journal_records(pg_state_url) == []  # folded in when the lock was released
    [(serial, entries)] = execute(
        pg_state_url,
        "SELECT serial, snapshot->'entries' FROM jobspec_state WHERE workspace = %s",
        [parse_location(pg_state_url).workspace],
    )
    assert (serial, sorted(entries)) == (3, ["x", "y"])


def test_a_checkpoint_keeps_pending_intents(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url, checkpoint_lines=2)
    with store.lock(operation="apply") as session:
        intent = session.record_intent("a", "clone", target="f" * 32, name="A")
        for i in range(5):
            session.put(f"e{i}", make_entry(i))
        assert len(journal_records(pg_state_url)) < 2  # checkpoints happened on the way
    [pending] = store.read().pending_intents()
    assert pending == intent
    with store.lock(operation="apply") as session:
        assert session.pending_intents() == [intent]
        session.abandon(intent, "settled")
    assert store.read().pending_intents() == []


def test_a_killed_holder_leaves_its_intent_and_a_lock_that_is_taken_over(
    pg_state_url: str,
) -> None:
    store = PostgresStateStore(pg_state_url)
    child = spawn(HOLD_LOCK, pg_state_url)
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


def test_second_lock_fails_at_once_naming_the_holder(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url)
    with store.lock(operation="apply") as session:
        with pytest.raises(LockError) as info, store.lock(operation="plan"):
            pytest.fail("the second lock must not be granted")
        held = session.lock_info
        for part in (held.id, held.holder, f"pid {os.getpid()}", "`apply`", held.created_at):
            assert part in info.value.message
        assert info.value.hint is not None and f"jobspec unlock {held.id}" in info.value.hint
        assert store.lock_info() == held
        [(backend_pid,)] = execute(
            pg_state_url,
            "SELECT backend_pid FROM jobspec_lock WHERE workspace = %s",
            [store.workspace],
        )
        assert backend_pid != 0  # the holder's server process, for a DBA
        session.put("a", make_entry(1))  # the refused attempt did not disturb the holder
    assert store.lock_info() is None
    assert list(store.read().entries) == ["a"]


def test_lock_with_timeout_waits_until_released(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url)
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


def test_unlock_needs_the_right_id(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url)
    with pytest.raises(StateError, match="is not locked"):
        store.unlock("anything")
    with store.lock(operation="apply") as session:
        real = session.lock_info.id
        with pytest.raises(StateError) as info:
            store.unlock("wrong-id")
        assert real in info.value.message and "wrong-id" in info.value.message
        assert store.lock_info() == session.lock_info
        assert store.unlock(real) == session.lock_info
        assert store.lock_info() is None


def test_a_stuck_holder_is_unlocked_and_then_refused_when_it_writes(pg_state_url: str) -> None:
    """The holder is alive, its session too, but stuck: unlock lets the next run in at once."""
    store = PostgresStateStore(pg_state_url)
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(STUCK), pg_state_url],
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


def test_a_broken_lock_stops_its_holder_from_writing(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url)
    with (
        pytest.raises(LockError, match="was broken"),  # raised again when `first` checkpoints
        store.lock(operation="first") as first,
    ):
        first.put("a", make_entry(1))
        store.unlock(first.lock_info.id)
        with store.lock(operation="second") as second:
            assert "a" in second.state.entries  # the first's journal rows are kept
            second.put("b", make_entry(2))
            with pytest.raises(LockError, match="was broken"):
                first.put("c", make_entry(3))
            assert store.lock_info() == second.lock_info
    assert store.lock_info() is None
    state = store.read()
    assert sorted(state.entries) == ["a", "b"]
    assert state.serial == 2


def test_a_second_writer_at_the_same_serial_is_refused(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url)
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
        # someone writes serial 2 behind the lock's back (a bug, or a hand edit)
        execute(
            pg_state_url,
            "INSERT INTO jobspec_journal (workspace, serial, record) VALUES (%s, 2, %s)",
            [store.workspace, '{"kind": "remove", "serial": 2, "address": "a"}'],
        )
        with pytest.raises(StateError, match="serial 2 was written by someone else"):
            session.put("b", make_entry(2))
        execute(
            pg_state_url,
            "DELETE FROM jobspec_journal WHERE workspace = %s AND serial = 2",
            [store.workspace],
        )
    assert sorted(store.read().entries) == ["a"]


def test_the_checkpoint_is_a_compare_and_swap_on_the_serial(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url)
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
        session.checkpoint()
    with (
        pytest.raises(StateError, match="compare-and-swap"),
        store.lock(operation="apply") as session,
    ):
        session.put("b", make_entry(2))
        # another snapshot lands behind the lock's back
        execute(
            pg_state_url,
            "UPDATE jobspec_state SET serial = serial + 5, "
            "snapshot = jsonb_set(snapshot, '{serial}', to_jsonb(serial + 5)) "
            "WHERE workspace = %s",
            [store.workspace],
        )
        session.checkpoint()
    assert store.read().serial == 6  # the other snapshot, not a merge


def test_workspaces_share_one_database_independently(pg_url: str) -> None:
    base = f"{pg_url}{'&' if '?' in pg_url else '?'}workspace="
    one = PostgresStateStore(base + f"one-{uuid.uuid4().hex[:8]}")
    two = PostgresStateStore(base + f"two-{uuid.uuid4().hex[:8]}")
    with one.lock(operation="apply") as first, two.lock(operation="apply") as second:
        first.put("a", make_entry(1))
        second.put("b", make_entry(2))
        second.put("c", make_entry(3))
    assert list(one.read().entries) == ["a"] and list(two.read().entries) == ["b", "c"]
    assert one.read().lineage != two.read().lineage
    assert (one.read().serial, two.read().serial) == (1, 2)


def test_tables_are_created_on_first_lock_and_a_newer_schema_is_refused(pg_url: str) -> None:
    schema = f"fresh_{uuid.uuid4().hex[:8]}"
    execute(pg_url, f"CREATE SCHEMA {schema}")
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    try:
        store = PostgresStateStore(url)
        assert store.read().lineage is None and store.lock_info() is None
        tables = f"SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}'"
        assert execute(url, tables) == [(0,)]  # reading created nothing
        for _ in range(2):  # the second time finds them: idempotent
            with PostgresStateStore(url).lock(operation="apply") as session:
                session.put("a", make_entry(1))
        assert execute(url, tables) == [(4,)]
        assert execute(url, "SELECT version FROM jobspec_schema") == [(SCHEMA_VERSION,)]
        execute(url, "INSERT INTO jobspec_schema (version) VALUES (%s)", [SCHEMA_VERSION + 1])
        with pytest.raises(StateError, match="upgrade jobspec"):
            PostgresStateStore(url).read()
        with pytest.raises(StateError, match="upgrade jobspec"), store.lock(operation="apply"):
            pytest.fail("a newer schema must not be written")
    finally:
        execute(pg_url, f"DROP SCHEMA {schema} CASCADE")


def test_a_wrong_server_is_one_clear_error_without_the_password() -> None:
    store = PostgresStateStore("postgresql://nobody:s3cret@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StateError) as caught:
        store.read()
    assert caught.value.message.startswith("cannot connect to the state database")
    assert "s3cret" not in caught.value.message + (caught.value.hint or "")
