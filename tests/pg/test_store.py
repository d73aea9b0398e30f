"""The PostgreSQL store's own ways: journal rows, compare-and-swap, workspaces, schema, errors.

What every store must do is the contract suite (tests/state/test_contract.py), which runs
against this store as its `[postgresql]` half. Each test has a workspace of its own
(`pg_state_url`) in the session's throwaway database.
"""

from __future__ import annotations

import uuid

import pytest

from jobspec.errors import StateError
from jobspec.state import SCHEMA_VERSION, PostgresStateStore, parse_location
from tests.pg.support import execute, journal_records
from tests.state.helpers import make_entry


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


def test_checkpoint_lines_folds_the_journal_rows_on_the_way(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url, checkpoint_lines=2)
    with store.lock(operation="apply") as session:
        session.record_intent("a", "clone", target="f" * 32, name="A")
        for i in range(5):
            session.put(f"e{i}", make_entry(i))
        assert len(journal_records(pg_state_url)) < 2  # checkpoints happened on the way
    assert journal_records(pg_state_url) == []


def test_the_lock_row_names_the_holders_server_process(pg_state_url: str) -> None:
    store = PostgresStateStore(pg_state_url)
    with store.lock(operation="apply"):
        [(backend_pid,)] = execute(
            pg_state_url,
            "SELECT backend_pid FROM jobspec_lock WHERE workspace = %s",
            [store.workspace],
        )
        assert backend_pid != 0  # the holder's server process, for a DBA
    assert execute(
        pg_state_url, "SELECT count(*) FROM jobspec_lock WHERE workspace = %s", [store.workspace]
    ) == [(0,)]


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
