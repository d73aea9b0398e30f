"""Optional store capabilities are asked for by protocol, never by a store's class."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobspec.commands.state import restore_backup
from jobspec.errors import UsageError
from jobspec.state import FileStateStore, PostgresStateStore, Restorable


def test_only_the_file_store_can_restore_a_backup(tmp_path: Path) -> None:
    assert isinstance(FileStateStore(tmp_path / "state.json"), Restorable)
    assert not isinstance(PostgresStateStore("postgresql://db.example/jobspec"), Restorable)


def test_restoring_a_store_without_the_capability_is_refused_before_any_lock() -> None:
    store = PostgresStateStore("postgresql://db.example/jobspec")  # never connected
    with pytest.raises(UsageError, match="keeps no backup: only a state file does"):
        restore_backup(store)
