"""The snapshot format: golden round trip, and every way a state file can be unusable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jobspec.errors import StateError
from jobspec.state import FORMAT_VERSION, FileStateStore, State, dumps_state, loads_state

from .helpers import make_entry

GOLDEN = Path(__file__).parent.parent / "data" / "state" / "v1.json"


def test_golden_v1_round_trips_byte_for_byte() -> None:
    text = GOLDEN.read_text(encoding="utf-8")
    state = loads_state(text, source=str(GOLDEN))
    assert state.serial == 42
    assert sorted(state.entries) == ["finance-archive", "hr-records"]
    assert state.entries["hr-records"].superseded == ["99887766554433221100ffeeddccbbaa"]
    [intent] = state.pending_intents()
    assert (intent.op, intent.address, intent.target) == (
        "delete",
        "hr-records",
        "1234567890abcdef1234567890abcdef",
    )
    assert dumps_state(state) == text


def test_entries_written_before_source_digest_still_load() -> None:
    document = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for entry in document["entries"].values():
        del entry["source_digest"]
    state = loads_state(json.dumps(document), source="older.json")
    assert state.entries["finance-archive"].source_digest is None


def test_golden_file_reads_through_the_store(tmp_path: Path) -> None:
    path = tmp_path / "jobspec.state.json"
    shutil.copy(GOLDEN, path)
    store = FileStateStore(path)
    assert store.read() == loads_state(GOLDEN.read_text(encoding="utf-8"))
    with store.lock(operation="test"):
        pass  # nothing written: no journal, so the snapshot is left exactly as it was
    assert path.read_bytes() == GOLDEN.read_bytes()
    assert not store.backup_path.exists()


def test_dump_is_stable_whatever_the_insertion_order() -> None:
    forward = State(lineage="6f1c2a9e-3b7d-4c5e-9a8f-0d1e2f3a4b5c", serial=3)
    a = State(
        lineage=forward.lineage,
        serial=3,
        entries={"b": make_entry(2), "a": make_entry(1)},
    )
    b = State(
        lineage=forward.lineage,
        serial=3,
        entries={"a": make_entry(1), "b": make_entry(2)},
    )
    assert dumps_state(a) == dumps_state(b)
    text = dumps_state(a)
    assert text.endswith("}\n")
    assert list(json.loads(text)) == [
        "format_version",
        "lineage",
        "serial",
        "entries",
        "pending_intents",
    ]


def test_missing_file_is_an_empty_state_without_lineage(tmp_path: Path) -> None:
    state = FileStateStore(tmp_path / "none.json").read()
    assert (state.lineage, state.serial, dict(state.entries), state.pending) == (None, 0, {}, ())
    assert state.format_version == FORMAT_VERSION


def _write(tmp_path: Path, document: object | str) -> FileStateStore:
    path = tmp_path / "jobspec.state.json"
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    path.write_text(text, encoding="utf-8")
    return FileStateStore(path)


def _valid_document() -> dict[str, object]:
    state = loads_state(GOLDEN.read_text(encoding="utf-8"))
    document: dict[str, object] = json.loads(dumps_state(state))
    return document


def test_newer_format_is_refused_with_upgrade_hint(tmp_path: Path) -> None:
    store = _write(tmp_path, {**_valid_document(), "format_version": 2})
    with pytest.raises(
        StateError, match=r"state format 2 .* newer than this jobspec \(1\)"
    ) as info:
        store.read()
    assert "upgrade jobspec" in info.value.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"serial": -1}, "`serial` must be a non-negative integer"),
        ({"serial": "3"}, "`serial` must be a non-negative integer"),
        ({"lineage": "not-a-uuid"}, "`lineage` must be a UUID"),
        ({"format_version": "1"}, "`format_version` must be a positive integer"),
        ({"entries": []}, "`entries` must be an object"),
        ({"pending_intents": {}}, "`pending_intents` must be a list"),
        ({"surprise": 1}, "unknown field `surprise`"),
    ],
)
def test_invalid_fields_are_named(tmp_path: Path, change: dict[str, object], message: str) -> None:
    store = _write(tmp_path, {**_valid_document(), **change})
    with pytest.raises(StateError, match=message) as info:
        store.read()
    assert str(store.path) in info.value.message


@pytest.mark.parametrize("field", ["lineage", "serial", "entries", "pending_intents"])
def test_missing_fields_are_named(tmp_path: Path, field: str) -> None:
    document = _valid_document()
    del document[field]
    with pytest.raises(StateError, match=f"missing field `{field}`"):
        _write(tmp_path, document).read()


def test_invalid_entry_names_address_and_field(tmp_path: Path) -> None:
    document = _valid_document()
    entries = document["entries"]
    assert isinstance(entries, dict)
    del entries["hr-records"]["clone_id"]
    with pytest.raises(StateError, match=r"entry `hr-records`: `clone_id`: Field required"):
        _write(tmp_path, document).read()


def test_corrupt_json_names_file_and_position_and_leaves_backup_alone(tmp_path: Path) -> None:
    path = tmp_path / "jobspec.state.json"
    store = FileStateStore(path)
    for i in range(2):  # two checkpoints: the second leaves the first as the backup
        with store.lock(operation="test") as session:
            session.put(f"job-{i}", make_entry(i))
    backup = store.backup_path.read_bytes()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"serial": 2,', '"serial": 2', 1), encoding="utf-8")

    with pytest.raises(StateError) as info:
        store.read()
    assert str(path) in info.value.message
    assert "not valid JSON" in info.value.message
    assert "line 5 column 3" in info.value.message  # where `"entries"` begins
    assert info.value.hint is not None and str(store.backup_path) in info.value.hint

    with pytest.raises(StateError, match="not valid JSON"), store.lock(operation="apply"):
        pytest.fail("a corrupt state must not open a session")
    assert store.backup_path.read_bytes() == backup
    assert not store.lock_path.exists()  # the failed attempt released its lock


def test_non_utf8_state_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(b'{"format_version": 1, "lineage": "\xff"}')
    with pytest.raises(StateError, match="not UTF-8"):
        FileStateStore(path).read()


def test_empty_file_is_corrupt_not_empty_state(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="not valid JSON"):
        _write(tmp_path, "").read()


def test_lineage_check_names_both_lineages() -> None:
    state = loads_state(GOLDEN.read_text(encoding="utf-8"))
    state.check_lineage(state.lineage)
    other = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(StateError) as info:
        state.check_lineage(other)
    assert str(state.lineage) in info.value.message and other in info.value.message
    with pytest.raises(StateError, match="no state yet"):
        State().check_lineage(other)


GOLDEN_JOURNAL = GOLDEN.with_name("v1.json.journal")


def test_golden_v1_journal_written_by_0_1_still_reads(tmp_path: Path) -> None:
    """A journal 0.1 wrote (no checksums, no durable marks, a torn last line) reads as then."""
    path = tmp_path / "jobspec.state.json"
    shutil.copy(GOLDEN, path)
    shutil.copy(GOLDEN_JOURNAL, path.with_name(path.name + ".journal"))
    store = FileStateStore(path)
    state = store.read()
    assert state.serial == 50
    assert state.server == "https://dryviq.example.com/"
    assert sorted(state.entries) == ["finance-archive", "hr-records", "sales-2026"]
    assert state.entries["sales-2026"].applied["name"] == "Sales archive"
    [intent] = state.pending_intents()
    assert (intent.intent_id, intent.op) == ("c" * 32, "delete")
    with store.lock(operation="test") as session:
        assert session.state == state
    # Released with a checkpoint: the torn line dropped, everything else in the snapshot.
    assert not store.journal_path.exists()
    assert store.read() == state
