"""Issue 23, cases 11 and 12: the files jobspec reads and writes are what they claim to be.

A symbolic link put in the lock file's place is refused (before, its target was overwritten
with the lock's JSON); a FIFO, a device or a directory as the state, its journal or a plan
file is a clear error before any read (before, a FIFO hung and `/dev/zero` read until
MemoryError). Real processes with a bound: the old behaviour hangs, and must fail, not block.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from jobspec.files import FileRefused, read_regular
from tests.e2e.conftest import Workspace
from tests.helpers import EmulatorHandle

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX special files")


def _run(ws: Workspace, *args: str) -> tuple[int, str]:
    process = ws.spawn(*args)
    try:
        stdout, stderr = process.communicate(timeout=60)  # a bound for the old hang only
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, stdout + stderr


def test_a_symlink_as_the_lock_file_is_refused_and_its_target_untouched(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    ws = Workspace(root=tmp_path, emulator=emulator)
    ws.add_spec("finance", original="manual")
    victim = tmp_path / "precious.txt"
    victim.write_text("do not overwrite\n", encoding="utf-8")
    (tmp_path / "jobspec.state.json.lock").symlink_to(victim)
    code, output = _run(ws, "apply", "--auto-approve")
    assert code == 1, output
    assert "is a symbolic link; refused" in output
    assert "Traceback" not in output
    assert victim.read_text(encoding="utf-8") == "do not overwrite\n"
    assert ws.mutations() == 0


@pytest.mark.parametrize("which", ["jobspec.state.json", "jobspec.state.json.journal"])
def test_a_fifo_as_the_state_or_journal_is_a_clear_error_not_a_hang(
    tmp_path: Path, emulator: EmulatorHandle, which: str
) -> None:
    ws = Workspace(root=tmp_path, emulator=emulator)
    ws.add_spec("finance", original="manual")
    os.mkfifo(tmp_path / which)
    code, output = _run(ws, "plan")
    assert code == 1, output
    assert "not a regular file (it is a FIFO)" in output
    assert "Traceback" not in output


def test_a_device_as_the_state_is_a_clear_error_not_a_memory_error(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    ws = Workspace(root=tmp_path, emulator=emulator)
    ws.add_spec("finance", original="manual")
    (tmp_path / "jobspec.state.json").symlink_to("/dev/zero")
    code, output = _run(ws, "state", "list")
    assert code == 1, output
    assert "not a regular file (it is a device or socket)" in output
    assert "Traceback" not in output and "MemoryError" not in output


def test_a_fifo_as_the_plan_file_is_a_clear_error_not_a_hang(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    ws = Workspace(root=tmp_path, emulator=emulator)
    ws.add_spec("finance", original="manual")
    os.mkfifo(tmp_path / "plan.json")
    code, output = _run(ws, "apply", "plan.json")
    assert code == 1, output
    assert "cannot read plan file plan.json: not a regular file (it is a FIFO)" in output


def test_reads_are_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 5000)
    assert read_regular(big, limit=5000)[0] == b"x" * 5000
    with pytest.raises(FileRefused, match="larger than 4,999 bytes"):
        read_regular(big, limit=4999)
