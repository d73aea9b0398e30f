"""The file store's journal: replay, torn and corrupt lines, checkpoints, backups, atomic writes.

What every store's writes do (serials, lineage, pending intents across checkpoints, misuse)
is in the contract suite, test_contract.py; these are the file format's own cases.

A crash "at this moment" is simulated by copying the state files mid-session into another
directory: every record is durable when its call returns, so the copy is exactly what a
SIGKILL at that point leaves behind (the kill tests in test_crash.py check that claim).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_core import PydanticSerializationError

from jobspec.errors import StateError
from jobspec.files import atomic_write
from jobspec.model import OriginalPolicy, StateEntry
from jobspec.state import SERIAL_EPOCH, FileStateStore, GroupCommit, State, dumps_state

from .helpers import make_entry, state_files


def _freeze_disk(store: FileStateStore, into: Path) -> FileStateStore:
    """What a crash right now would leave: a copy of the snapshot and journal."""
    into.mkdir()
    for path in (store.path, store.journal_path, store.backup_path):
        if path.exists():
            shutil.copy(path, into / path.name)
    return FileStateStore(into / store.path.name)


def test_replay_of_the_journal_gives_the_session_state(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "live" / "s.json")
    store.path.parent.mkdir()
    with store.lock(operation="apply") as session:
        session.put("x", make_entry(0))
    with store.lock(operation="apply") as session:
        first = session.record_intent("a", "clone", target="f" * 32)
        session.complete(first, put=make_entry(1))
        session.record_intent("b", "clone", target="e" * 32, name="B")
        session.put("x", make_entry(9))
        crashed = _freeze_disk(store, tmp_path / "crashed")
        expected = session.state
    assert crashed.journal_path.exists()
    assert crashed.read() == expected
    assert [i.details["name"] for i in crashed.read().pending_intents()] == ["B"]


def test_torn_last_line_is_ignored_then_repaired(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "live" / "s.json")
    store.path.parent.mkdir()
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
        session.put("b", make_entry(2))
        crashed = _freeze_disk(store, tmp_path / "crashed")
        expected = session.state
    whole = crashed.journal_path.read_bytes()
    torn_record = json.dumps({"kind": "put", "serial": 3, "address": "c"}).encode()
    for tail in (torn_record[:17], torn_record, b"\x00" * 40, torn_record[:-3] + b"\n"):
        crashed.journal_path.write_bytes(whole + tail)
        assert crashed.read() == expected, tail

    with crashed.lock(operation="apply") as session:
        assert crashed.journal_path.read_bytes() == whole  # the torn tail is cut before writing
        session.put("c", make_entry(3))
        lines = crashed.journal_path.read_bytes().splitlines()
        assert json.loads(lines[-1])["serial"] == 3
    assert sorted(crashed.read().entries) == ["a", "b", "c"]


def test_unparseable_last_line_with_newline_counts_as_torn(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "live" / "s.json")
    store.path.parent.mkdir()
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
        crashed = _freeze_disk(store, tmp_path / "crashed")
    with crashed.journal_path.open("ab") as journal:
        journal.write(b'{"kind": "put", "ser\n')
    assert list(crashed.read().entries) == ["a"]


def test_damaged_synced_record_is_a_state_error_naming_the_line(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "live" / "s.json")
    store.path.parent.mkdir()
    with store.lock(operation="apply") as session:
        for i in range(3):
            session.put(f"a{i}", make_entry(i))
        crashed = _freeze_disk(store, tmp_path / "crashed")
    lines = crashed.journal_path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"a1"', b'"a7"')  # one byte changed: the checksum fails
    crashed.journal_path.write_bytes(b"".join(lines))
    # Each put was synced before the next was written, and the next one says so ("d").
    with pytest.raises(
        StateError, match=r"s\.json\.journal:3: damaged record \(serial 2\)"
    ) as info:
        crashed.read()
    assert info.value.hint is not None and "intact" in info.value.hint
    with pytest.raises(StateError, match="damaged record"), crashed.lock(operation="apply"):
        pytest.fail("unreachable")


def test_corrupt_middle_line_of_a_0_1_journal_is_still_refused(tmp_path: Path) -> None:
    golden = Path(__file__).parent.parent / "data" / "state" / "v1.json"
    path = tmp_path / "jobspec.state.json"
    shutil.copy(golden, path)
    lines = golden.with_name("v1.json.journal").read_bytes().splitlines(keepends=True)
    lines[3] = b'{"kind": "done", "serial": 45, \n'
    path.with_name(path.name + ".journal").write_bytes(b"".join(lines))
    with pytest.raises(StateError, match=r"journal:4: corrupt line in the middle"):
        FileStateStore(path).read()


def _unsynced_group(tmp_path: Path) -> tuple[FileStateStore, bytes, bytes, State]:
    """A journal whose last three records were appended in one group and never synced.

    Returns the crashed store, the journal up to the group, the group's bytes, and the state
    before the group.
    """
    store = FileStateStore(tmp_path / "live" / "s.json")
    store.path.parent.mkdir()
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
        before = session.state
        synced = store.journal_path.read_bytes()
        assert isinstance(session, GroupCommit)
        with session.deferred_sync():
            for i in (2, 3, 4):
                session.put(f"g{i}", make_entry(i))
            crashed = _freeze_disk(store, tmp_path / "crashed")
    group = crashed.journal_path.read_bytes()[len(synced) :]
    assert group.count(b"\n") == 3
    return crashed, synced, group, before


@pytest.mark.parametrize(
    "damage",
    ["zeros", "garbage", "middle-garbage", "middle-zeros", "cut"],
)
def test_unsynced_garbage_after_the_last_sync_is_dropped_with_a_warning(
    tmp_path: Path, damage: str
) -> None:
    """A power loss may leave the unsynced group zeroed, as garbage, or with holes in it."""
    crashed, synced, group, before = _unsynced_group(tmp_path)
    lines = group.splitlines(keepends=True)
    rng = random.Random(damage)
    if damage == "zeros":
        tail = b"\x00" * len(group)
    elif damage == "garbage":
        tail = rng.randbytes(len(group))
    elif damage == "middle-garbage":  # the first line whole, the second garbage, the third whole
        tail = lines[0] + rng.randbytes(len(lines[1]) - 1) + b"\n" + lines[2]
    elif damage == "middle-zeros":
        tail = lines[0] + b"\x00" * len(lines[1]) + lines[2]
    else:
        tail = lines[0] + lines[1][:9]
    crashed.journal_path.write_bytes(synced + tail)
    kept = crashed.read()
    assert kept.serial >= before.serial
    assert dict(kept.entries) == {
        **before.entries,
        **({"g2": make_entry(2)} if damage.startswith("middle") or damage == "cut" else {}),
    }
    with crashed.lock(operation="apply") as session:
        assert session.state == kept
        [warning] = [w for w in session.warnings if "never synced" in w]
        assert "dropped the last" in warning
        session.put("z", make_entry(9))
    assert crashed.read().entries["z"] == make_entry(9)


def test_serial_gap_in_the_journal_is_a_state_error(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "live" / "s.json")
    store.path.parent.mkdir()
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
        session.put("b", make_entry(2))
        crashed = _freeze_disk(store, tmp_path / "crashed")
    lines = crashed.journal_path.read_bytes().splitlines(keepends=True)
    crashed.journal_path.write_bytes(b"".join([lines[0], lines[2]]))
    with pytest.raises(StateError, match="serial 2 does not follow 0"):
        crashed.read()


def test_journal_from_another_lineage_is_refused(tmp_path: Path) -> None:
    a = FileStateStore(tmp_path / "a" / "s.json")
    b = FileStateStore(tmp_path / "b" / "s.json")
    for store in (a, b):
        store.path.parent.mkdir()
        with store.lock(operation="apply") as session:
            session.put("x", make_entry(1))
    with a.lock(operation="apply") as session:
        session.put("y", make_entry(2))
        crashed = _freeze_disk(a, tmp_path / "crashed")
    shutil.copy(b.path, crashed.path)  # b's snapshot (same serial) with a's journal
    with pytest.raises(StateError, match="belongs to lineage") as info:
        crashed.read()
    assert str(a.read().lineage) in info.value.message
    assert str(b.read().lineage) in info.value.message


def test_a_checkpoint_writes_pending_intents_into_the_snapshot(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json", checkpoint_lines=3)
    with store.lock(operation="apply") as session:
        open_one = session.record_intent("a", "clone", target="f" * 32, name="A")
        for i in range(5):  # enough records for an automatic checkpoint in between
            session.put(f"p{i}", make_entry(i))
    assert not store.journal_path.exists()
    snapshot = json.loads(store.path.read_text(encoding="utf-8"))
    assert [i["intent_id"] for i in snapshot["pending_intents"]] == [open_one.intent_id]


def test_journal_is_checkpointed_after_n_records_not_per_step(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json", checkpoint_lines=10)
    with store.lock(operation="apply") as session:
        for i in range(9):
            session.put(f"a{i}", make_entry(i))
        assert not store.path.exists()  # nine records: still only the journal
        session.put("a9", make_entry(9))
        assert store.path.exists() and not store.journal_path.exists()
        assert json.loads(store.path.read_text(encoding="utf-8"))["serial"] == 10
        session.put("a10", make_entry(10))
        assert len(store.journal_path.read_bytes().splitlines()) == 2  # header + 1 record


def test_backup_holds_the_previous_snapshot(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
    first = store.path.read_bytes()
    assert not store.backup_path.exists()
    with store.lock(operation="apply") as session:
        session.put("b", make_entry(2))
    assert store.backup_path.read_bytes() == first
    second = store.path.read_bytes()
    with store.lock(operation="apply") as session:
        session.remove("a")
    assert store.backup_path.read_bytes() == second
    assert json.loads(store.path.read_text(encoding="utf-8"))["serial"] == 3


def test_crash_after_snapshot_rename_before_journal_delete(tmp_path: Path) -> None:
    """The folded journal left behind is recognised by its serials and removed, not replayed."""
    store = FileStateStore(tmp_path / "s.json")
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
    with store.lock(operation="apply") as session:
        intent = session.record_intent("b", "clone", target="f" * 32)
        session.complete(intent, put=make_entry(2))
        session.record_intent("c", "clone", target="e" * 32)
        journal = store.journal_path.read_bytes()
    state = store.read()
    store.journal_path.write_bytes(journal)  # as if the delete never happened
    assert store.read() == state
    with store.lock(operation="apply") as session:
        assert session.state == state
        assert not store.journal_path.exists()
        session.put("d", make_entry(4))
    assert store.read().serial == state.serial + 1


def test_journal_ahead_of_a_restored_backup_is_refused(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "live" / "s.json")
    store.path.parent.mkdir()
    for i in range(2):
        with store.lock(operation="apply") as session:
            session.put(f"a{i}", make_entry(i))
    with store.lock(operation="apply") as session:
        session.put("b", make_entry(5))
        crashed = _freeze_disk(store, tmp_path / "crashed")
    shutil.copy(crashed.backup_path, crashed.path)  # the user restores the backup
    with pytest.raises(StateError, match=r"continues from serial 2, but .* at serial 1") as info:
        crashed.read()
    assert info.value.hint is not None and "move the journal aside" in info.value.hint


def test_journal_without_snapshot_must_start_at_zero(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "live" / "s.json")
    store.path.parent.mkdir()
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
    with store.lock(operation="apply") as session:
        session.put("b", make_entry(2))
        crashed = _freeze_disk(store, tmp_path / "crashed")
    crashed.path.unlink()
    with pytest.raises(StateError, match=r"continues from serial 1, .* at serial 0 \(missing\)"):
        crashed.read()


def _failing_chunks() -> Iterator[bytes]:
    yield b'{"half": '
    raise RuntimeError("serializer failed midway")


def test_atomic_write_failing_midway_keeps_the_old_content(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(b"old content\n")
    with pytest.raises(RuntimeError, match="midway"):
        atomic_write(path, _failing_chunks())
    assert path.read_bytes() == b"old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temp file left behind
    atomic_write(path, [b"new ", b"content\n"])
    assert path.read_bytes() == b"new content\n"


def test_unserialisable_change_is_refused_before_touching_the_journal(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    bad = StateEntry(
        source_id="a" * 32,
        clone_id="b" * 32,
        original=OriginalPolicy.keep,
        applied={"when": object()},
        applied_digest="x",
    )
    with store.lock(operation="apply") as session:
        session.put("ok", make_entry(1))
        before = state_files(store.path)
        with pytest.raises(PydanticSerializationError):
            session.put("bad", bad)
        with pytest.raises(TypeError):
            session.record_intent("bad", "clone", target="f" * 32, when=object())
        assert state_files(store.path) == before


def test_leftover_temp_files_are_cleaned_up_under_the_lock(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    leftover = tmp_path / "s.json.tmp-abc123"
    leftover.write_text("half a snapshot")
    with store.lock(operation="apply"):
        assert not leftover.exists()


def test_read_only_session_writes_nothing(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    with store.lock(operation="plan") as session:
        assert session.state.lineage is None
    assert state_files(store.path) == {}


def test_snapshot_equals_dump_of_the_state(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
        session.record_intent("a", "patch", target="0" * 32)
        state = session.state
    assert store.path.read_text(encoding="utf-8") == dumps_state(state)


def test_restore_replaces_a_damaged_state_in_a_new_serial_epoch(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    with pytest.raises(StateError, match="no backup"):
        store.restore_backup()
    for i in range(3):  # three checkpoints: the backup holds the second
        with store.lock(operation="apply") as session:
            session.put(f"a{i}", make_entry(i))
    with store.lock(operation="apply") as session:
        session.put("late", make_entry(9))
        crashed = _freeze_disk(store, tmp_path / "crashed")  # a snapshot and a live journal
    crashed.path.write_bytes(crashed.path.read_bytes()[:40])  # the snapshot is damaged
    with pytest.raises(StateError, match="not valid JSON") as info:
        crashed.read()
    assert info.value.hint is not None and "jobspec state restore" in info.value.hint
    damaged = crashed.path.read_bytes()
    done = crashed.restore_backup()
    assert (done.backup_serial, done.state.serial) == (2, SERIAL_EPOCH)
    assert crashed.read() == done.state and sorted(done.state.entries) == ["a0", "a1"]
    assert sorted(p.name.split(".before-restore-")[0] for p in done.kept) == [
        "s.json",
        "s.json.journal",
    ]
    assert damaged in [p.read_bytes() for p in done.kept]  # nothing is lost
    # A second restore (from the same backup) moves on to the next epoch, never back.
    assert crashed.restore_backup().state.serial == 2 * SERIAL_EPOCH
    with crashed.lock(operation="apply") as session:
        session.put("after", make_entry(5))
    assert crashed.read().serial == 2 * SERIAL_EPOCH + 1


def test_checkpoints_stay_linear_in_the_number_of_entries(tmp_path: Path) -> None:
    """A checkpoint rewrites every entry: at a fixed interval, N puts cost N²/interval entry
    writes (10,000 specs: 12 million); growing the interval with the state keeps it linear."""
    store = FileStateStore(tmp_path / "s.json", checkpoint_lines=16, sync=False)
    written: list[int] = []
    write_snapshot = store._write_snapshot

    def counting(state: State) -> None:
        written.append(len(state.entries))
        write_snapshot(state)

    store._write_snapshot = counting  # type: ignore[method-assign]
    entries = 3000
    with store.lock(operation="apply") as session:
        for i in range(entries):
            session.put(f"a{i}", make_entry(i))
    assert sum(written) <= 4 * entries  # a fixed interval of 16 would write ~280,000
    assert written[-1] == entries and len(store.read().entries) == entries
