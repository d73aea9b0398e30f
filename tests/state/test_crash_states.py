"""Every crash state a power loss allows, during real applies: each reads back and converges.

The campaign (tests/state/crash_campaign.py) records real applies through the file store's
file-system seam and checks every crash state of every sync point; bench/reliability.py runs
the same campaigns and reports their counts in docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobspec.state import FileStateStore, GroupCommit
from tests.helpers import EmulatorHandle

from .crash_campaign import large_workload, small_workload
from .crash_states import RecordingFs, crash_images
from .helpers import make_entry


def test_every_crash_state_of_a_small_workload_reads_back_and_converges(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    report = small_workload(tmp_path, emulator)
    assert report.points >= 10 and report.images >= 200 and report.dropped_tails > 0, report
    print(f"crash states: {report}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_every_crash_state_of_a_larger_workload_reads_back_and_converges(
    tmp_path: Path, emulator: EmulatorHandle, seed: int
) -> None:
    report = large_workload(tmp_path, emulator, seed=seed)
    assert report.images >= 1000 and report.dropped_tails > 0, report
    print(f"crash states: {report}")


def test_the_harness_sees_damage_it_is_told_about(tmp_path: Path) -> None:
    """The images include the hard cases: a hole before a landed write, a torn rename."""
    (tmp_path / "d").mkdir()
    fs = RecordingFs(tmp_path / "d")
    store = FileStateStore(tmp_path / "d" / "s.json", fs=fs)
    with store.lock(operation="test") as session:
        session.put("a", make_entry(1))
        assert isinstance(session, GroupCommit)
        with session.deferred_sync():
            session.put("b", make_entry(2))
            session.put("c", make_entry(3))
            upto = len(fs.log)
    journals = [image.get("s.json.journal", b"") for image in crash_images(fs, upto)]
    assert any(b'"address":"c"' in j and b"\0" * 20 in j for j in journals), "no hole"
    # The checkpoint on release: the snapshot renamed into place, then the journal unlinked.
    renamed = max(i for i, op in enumerate(fs.log) if op.kind == "replace")
    assert fs.log[renamed + 1].kind == "dirsync"
    names = {frozenset(image) for image in crash_images(fs, renamed + 1)}
    assert frozenset({"s.json.journal"}) in names  # the rename did not happen: torn
    assert frozenset({"s.json.journal", "s.json"}) in names  # it did
    assert {frozenset(image) for image in crash_images(fs, len(fs.log))} == {frozenset({"s.json"})}
