"""Group commit: records appended inside `deferred_sync()` are durable once `sync()` returns.

The store is given a recorder as its `datasync` (through `SyncSeam`), which notes how many
journal bytes each fdatasync covers (the file's size when it ran), so "durable" is checked
against what reached the call, not assumed. The applier's use (an intent synced before its call)
is checked end to end with the in-process emulator in
`test_applier_syncs_each_intent_before_its_call`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from jobspec.errors import StateError
from jobspec.state import FileStateStore, GroupCommit

from .helpers import SyncSeam, make_entry


class DiskRecorder:
    """Stands in for fdatasync: records the journal size each call made durable."""

    def __init__(self) -> None:
        self.synced_sizes: list[int] = []
        self.threads: list[str] = []
        self.entered = threading.Event()
        self._hold: threading.Event | None = None

    def hold_from_now(self, release: threading.Event) -> None:
        """Forget the syncs so far; each one from now on waits until `release` is set."""
        self.synced_sizes.clear()
        self.threads.clear()
        self.entered.clear()
        self._hold = release

    def __call__(self, fd: int) -> None:
        self.threads.append(threading.current_thread().name)
        self.synced_sizes.append(os.fstat(fd).st_size)  # what this call is sure to cover
        self.entered.set()
        if self._hold is not None:
            assert self._hold.wait(5), "the test never released the disk"


async def _until(event: threading.Event) -> None:
    """Poll (the event is set from a worker thread) until set, within a deadline."""
    for _ in range(5000):
        if event.is_set():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the journal sync never started")


@pytest.fixture
def disk() -> DiskRecorder:
    return DiskRecorder()


def test_a_file_session_offers_group_commit(tmp_path: Path) -> None:
    with FileStateStore(tmp_path / "s.json").lock(operation="apply") as session:
        assert isinstance(session, GroupCommit)


def test_outside_the_block_every_write_is_synced_on_return(
    tmp_path: Path, disk: DiskRecorder
) -> None:
    store = FileStateStore(tmp_path / "s.json", fs=SyncSeam(disk))
    with store.lock(operation="apply") as session:
        intent = session.record_intent("a", "clone", target="f" * 32, name="A")
        assert disk.synced_sizes[-1] == store.journal_path.stat().st_size
        session.complete(intent, put=make_entry(1))
        assert disk.synced_sizes[-1] == store.journal_path.stat().st_size


def test_inside_the_block_sync_makes_what_was_appended_durable(
    tmp_path: Path, disk: DiskRecorder
) -> None:
    store = FileStateStore(tmp_path / "s.json", fs=SyncSeam(disk))

    async def run() -> None:
        with store.lock(operation="apply") as session, session.deferred_sync():
            session.record_intent("a", "clone", target="f" * 32, name="A")  # header: synced
            synced_before = len(disk.synced_sizes)
            session.record_intent("b", "clone", target="e" * 32, name="B")
            assert len(disk.synced_sizes) == synced_before, "a deferred write waited for disk"
            await session.sync()
            assert disk.synced_sizes[-1] == store.journal_path.stat().st_size
            assert disk.threads[-1] != threading.main_thread().name, "synced on the event loop"

    asyncio.run(run())


def test_concurrent_waiters_share_one_fdatasync(tmp_path: Path, disk: DiskRecorder) -> None:
    store = FileStateStore(tmp_path / "s.json", fs=SyncSeam(disk))
    release = threading.Event()

    async def run() -> None:
        with store.lock(operation="apply") as session:
            session.record_intent("first", "clone", target="f" * 32)  # creates the journal
            disk.hold_from_now(release)
            with session.deferred_sync():
                for n in range(8):
                    session.record_intent(f"a{n}", "clone", target="f" * 32)
                waiters = [asyncio.ensure_future(session.sync()) for _ in range(8)]
                await asyncio.sleep(0)  # let every waiter reach the one sync in flight
                release.set()
                await asyncio.gather(*waiters)
                assert len(disk.synced_sizes) == 1
                assert disk.synced_sizes[0] == store.journal_path.stat().st_size

    asyncio.run(run())


def test_a_write_after_a_sync_started_gets_a_sync_of_its_own(
    tmp_path: Path, disk: DiskRecorder
) -> None:
    store = FileStateStore(tmp_path / "s.json", fs=SyncSeam(disk))
    release = threading.Event()

    async def run() -> None:
        with store.lock(operation="apply") as session:
            session.record_intent("first", "clone", target="f" * 32)
            disk.hold_from_now(release)
            with session.deferred_sync():
                session.record_intent("a", "clone", target="f" * 32)
                covered_a = store.journal_path.stat().st_size
                early = asyncio.ensure_future(session.sync())
                await _until(disk.entered)  # the first sync is in flight, covering `a`
                session.record_intent("b", "clone", target="e" * 32)
                late = asyncio.ensure_future(session.sync())
                release.set()
                await asyncio.gather(early, late)
                size = store.journal_path.stat().st_size
                assert disk.synced_sizes == [covered_a, size]

    asyncio.run(run())


def test_leaving_the_block_syncs_what_nobody_waited_for(tmp_path: Path, disk: DiskRecorder) -> None:
    store = FileStateStore(tmp_path / "s.json", fs=SyncSeam(disk))
    with store.lock(operation="apply") as session:
        session.record_intent("first", "clone", target="f" * 32)
        with session.deferred_sync():
            session.record_intent("a", "clone", target="f" * 32)
            size = store.journal_path.stat().st_size
            assert disk.synced_sizes[-1] < size
        assert disk.synced_sizes[-1] == size


def test_deferred_records_read_back_like_any_others(tmp_path: Path, disk: DiskRecorder) -> None:
    store = FileStateStore(tmp_path / "s.json", fs=SyncSeam(disk))

    async def run() -> None:
        with store.lock(operation="apply") as session, session.deferred_sync():
            intent = session.record_intent("a", "clone", target="f" * 32, name="A")
            await session.sync()
            session.complete(intent, put=make_entry(1))
            await session.sync()

    asyncio.run(run())
    assert store.read().entries == {"a": make_entry(1)}
    assert store.read().pending_intents() == []


class FailingDisk:
    """Stands in for fdatasync: the calls numbered in `failing` (from 1) fail with EIO."""

    def __init__(self, *failing: int) -> None:
        self.calls = 0
        self._failing = set(failing)

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.calls in self._failing:
            raise OSError(5, "Input/output error")


def test_a_failed_sync_of_one_write_takes_the_record_back(tmp_path: Path) -> None:
    disk = FailingDisk(3)  # 1: the journal header, 2: the first record, 3: the second
    store = FileStateStore(tmp_path / "s.json", fs=SyncSeam(disk))
    with store.lock(operation="apply") as session:
        session.put("a", make_entry(1))
        size = store.journal_path.stat().st_size
        with pytest.raises(StateError, match="could not append to the journal"):
            session.put("b", make_entry(2))
        assert store.journal_path.stat().st_size == size  # the line was truncated away
        assert session.state.serial == 1
        session.put("c", make_entry(3))  # the journal is whole: the session goes on
    assert sorted(store.read().entries) == ["a", "c"]


def test_after_a_failed_group_sync_nothing_more_is_written(tmp_path: Path) -> None:
    disk = FailingDisk(2)  # 1: the journal header (synced at once), 2: the group sync
    store = FileStateStore(tmp_path / "s.json", fs=SyncSeam(disk))

    async def run() -> None:
        with store.lock(operation="apply") as session, session.deferred_sync():
            session.put("a", make_entry(1))
            session.put("b", make_entry(2))
            with pytest.raises(StateError, match="could not sync the journal"):
                await session.sync()
            assert disk.calls == 2
            with pytest.raises(StateError, match=r"sync of the journal .* failed"):
                await session.sync()  # a retry proves nothing: the pages may be gone
            with pytest.raises(StateError, match="this run stops writing"):
                session.put("c", make_entry(3))

    asyncio.run(run())
