"""Real SIGKILLs: what a killed writer leaves behind is always a readable, truthful state."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from jobspec.state import FileStateStore

from .helpers import kill, make_entry, spawn, wait_for_line

RECORD_INTENT_THEN_HANG = """
    import sys, threading
    from jobspec.state import FileStateStore
    store = FileStateStore(sys.argv[1])
    with store.lock(operation="apply") as session:
        session.record_intent("finance", "clone", target="c4d8c04a69224ef0bfaa2f8e920b8792",
                              name="Finance archive (2026)")
        print("ready", flush=True)
        threading.Event().wait()
"""

# Steps of an apply: settle what an earlier run left open, then intent + done per address,
# printing "done N" only once `complete` has returned (the record is durable from then on).
WRITE_FOREVER = """
    import sys
    from jobspec.model import StateEntry
    from jobspec.state import FileStateStore
    store = FileStateStore(sys.argv[1], checkpoint_lines=int(sys.argv[2]))
    with store.lock(operation="apply") as session:
        for intent in session.pending_intents():
            session.abandon(intent, "interrupted")
        i = len(session.state.entries)
        print("ready", flush=True)
        while True:
            body = {"name": f"Job {i}", "padding": "x" * 300}
            address, source = f"a{i:05d}", f"{i:032x}"
            intent = session.record_intent(address, "clone", target=source, name=body["name"])
            entry = StateEntry(source_id=f"{i:032x}", clone_id=f"{i + 10**6:032x}",
                               original="manual", applied=body, applied_digest=str(i))
            session.complete(intent, put=entry)
            print(f"done {i}", flush=True)
            i += 1
"""


def test_intent_recorded_before_a_kill_is_pending_after_it(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    child = spawn(RECORD_INTENT_THEN_HANG, str(store.path))
    try:
        wait_for_line(child, "ready")
    finally:
        kill(child)
    [intent] = store.read().pending_intents()
    assert (intent.address, intent.op, intent.target) == (
        "finance",
        "clone",
        "c4d8c04a69224ef0bfaa2f8e920b8792",
    )
    assert intent.details["name"] == "Finance archive (2026)"
    with store.lock(operation="apply") as session:
        assert session.pending_intents() == [intent]
        assert any("stale lock" in warning for warning in session.warnings)
    # Released with a checkpoint: the pending intent moved into the snapshot.
    assert not store.journal_path.exists()
    assert store.read().pending_intents() == [intent]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kills_during_many_journaled_writes_never_lose_a_committed_step(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    store = FileStateStore(tmp_path / "s.json")
    committed = -1  # the highest N the child reported done, over all runs
    for _ in range(4):
        child = spawn(WRITE_FOREVER, str(store.path), str(rng.choice([3, 8, 25])))
        try:
            wait_for_line(child, "ready")
            assert child.stdout is not None
            for _ in range(rng.randint(1, 40)):
                committed = int(child.stdout.readline().split()[1])
        finally:
            kill(
                child
            )  # lands wherever the child has got to meanwhile: mid-append, mid-checkpoint…

        state = store.read()  # never a StateError
        addresses = sorted(state.entries)
        assert addresses == [f"a{i:05d}" for i in range(len(addresses))]  # no holes
        assert len(addresses) > committed  # nothing reported done was lost
        assert len(state.pending) <= 1  # at most the one call in flight
        for intent in state.pending:
            assert intent.address == f"a{len(addresses):05d}"
    with store.lock(operation="check") as session:
        assert session.state == store.read()
    assert not store.journal_path.exists()


# A real write failing midway, without mocks: the child may not write files beyond 64 kB, so
# its journal appends succeed and the checkpoint's new snapshot (larger) fails with EFBIG.
CHECKPOINT_HITS_FILE_SIZE_LIMIT = """
    import resource, signal, sys
    from jobspec.errors import StateError
    from jobspec.model import StateEntry
    from jobspec.state import FileStateStore
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
    store = FileStateStore(sys.argv[1])
    entry = StateEntry(source_id="a" * 32, clone_id="b" * 32, original="keep",
                       applied={"name": "new"}, applied_digest="d")
    try:
        with store.lock(operation="apply") as session:
            session.put("new", entry)
    except StateError as exc:
        print(exc.message)
        print(exc.hint)
"""


def test_checkpoint_failing_midway_keeps_snapshot_backup_and_journal(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    for round_ in range(2):  # two checkpoints, so a backup exists; each snapshot > 64 kB
        with store.lock(operation="seed") as session:
            for i in range(300):
                session.put(f"r{round_}-{i:03d}", make_entry(i))
    snapshot, backup = store.path.read_bytes(), store.backup_path.read_bytes()
    assert len(snapshot) > 65536

    child = spawn(CHECKPOINT_HITS_FILE_SIZE_LIMIT, str(store.path))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    message, hint = out.splitlines()
    assert f"could not write the state file {store.path}" in message
    assert "nothing was lost" in hint

    assert store.path.read_bytes() == snapshot
    assert store.backup_path.read_bytes() == backup
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "s.json",
        "s.json.backup",
        "s.json.journal",
    ]
    assert "new" in store.read().entries  # the change is safe in the journal
    with store.lock(operation="apply"):
        pass  # an unconstrained run folds it in
    assert store.backup_path.read_bytes() == snapshot
    assert "new" in FileStateStore(store.path).read().entries
    assert not store.journal_path.exists()
