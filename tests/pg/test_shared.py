"""Many runners, one database: parallel applies, a killed runner's lock, moving state in and out.

Real `jobspec` processes against the emulator over a socket, like tests/e2e.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobspec.state import FileStateStore, PostgresStateStore
from tests.e2e.conftest import Workspace
from tests.helpers import EmulatorHandle, wait_for
from tests.pg.support import execute
from tests.state.helpers import make_entry

RUNNERS = 5

# Every lock row inserted or deleted, in the order the database did it.
LOCK_LOG = """
CREATE TABLE IF NOT EXISTS test_lock_log (
    n bigserial PRIMARY KEY, workspace text, event text, lock_id text, pid integer
);
CREATE OR REPLACE FUNCTION test_log_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO test_lock_log (workspace, event, lock_id, pid)
        VALUES (NEW.workspace, 'acquire', NEW.id, NEW.pid);
    ELSE
        INSERT INTO test_lock_log (workspace, event, lock_id, pid)
        VALUES (OLD.workspace, 'release', OLD.id, OLD.pid);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER test_log_lock AFTER INSERT OR DELETE ON jobspec_lock
    FOR EACH ROW EXECUTE FUNCTION test_log_lock();
"""


@pytest.fixture
def shared(tmp_path: Path, emulator: EmulatorHandle, pg_state_url: str) -> Workspace:
    return Workspace(root=tmp_path, emulator=emulator, state_url=pg_state_url)


@pytest.fixture
def lock_log(shared: Workspace) -> Iterator[None]:
    assert shared.state_url is not None
    with shared.store().lock(operation="create the tables"):
        pass
    execute(shared.state_url, LOCK_LOG)
    yield
    execute(shared.state_url, "DROP TRIGGER test_log_lock ON jobspec_lock")


def test_parallel_applies_run_one_at_a_time_and_lose_no_update(
    shared: Workspace, lock_log: None
) -> None:
    addresses = [f"runner-{i}" for i in range(RUNNERS)]
    for address in addresses:
        shared.add_spec(address, original="manual")
    store = shared.store()
    with store.lock(operation="gate") as gate:
        runners = [
            shared.spawn("apply", "--auto-approve", "--lock-timeout", "120", "--target", address)
            for address in addresses
        ]
        try:
            for runner in runners:  # each one is queued behind the gate before it opens
                assert runner.stderr is not None
                line = runner.stderr.readline()
                assert "waiting for the state lock held by" in line, line + runner.stderr.read()
                assert gate.lock_info.id in line
        except BaseException:
            for runner in runners:
                runner.kill()
            raise
    outputs = [runner.communicate(timeout=120) for runner in runners]
    for runner, (out, err) in zip(runners, outputs, strict=True):
        assert runner.returncode == 0, out + err
        assert "Apply complete: 1 created" in out

    assert shared.state_url is not None
    workspace = store.location.rsplit("workspace=", 1)[1]
    log = execute(
        shared.state_url,
        "SELECT event, lock_id, pid FROM test_lock_log WHERE workspace = %s ORDER BY n",
        [workspace],
    )
    # acquire, release, acquire, release, …: never two holders at once
    assert [event for event, _, _ in log] == ["acquire", "release"] * (RUNNERS + 1)
    pairs = list(zip(log[::2], log[1::2], strict=True))
    assert all(acquired[1] == released[1] for acquired, released in pairs)
    assert pairs[0][0][1] == gate.lock_info.id
    assert sorted(acquired[2] for acquired, _ in pairs[1:]) == sorted(r.pid for r in runners)
    # every runner's work is in the state, and the state matches the server
    assert sorted(shared.state()) == addresses
    shared.assert_converged()


def test_a_killed_runner_leaves_a_lock_that_is_reported_and_can_be_broken(
    shared: Workspace,
) -> None:
    shared.add_spec("finance")
    shared.emulator.faults(latency_ms=300)  # the clone call is in flight when the kill lands
    runner = shared.spawn("apply", "--auto-approve")
    try:
        wait_for(
            lambda: (
                runner.poll() is not None
                or any(r.get("op") == "clone" for r in shared.journal_records())
            ),
            what="the clone call to be journaled",
            seconds=30,
        )
        assert runner.poll() is None, "apply ended before its clone call"
        runner.send_signal(signal.SIGKILL)
    finally:
        runner.communicate(timeout=30)
    shared.emulator.faults(latency_ms=0)
    # the lock row is still there and names the dead runner…
    store = shared.store()
    dead = store.lock_info()
    assert dead is not None and dead.pid == runner.pid
    reported = shared.cli("unlock", "not-the-id", expect=1)
    assert f"pid {runner.pid}" in reported.stderr
    assert f"jobspec unlock {dead.id}" in reported.stderr
    # … for `jobspec unlock` to break it on purpose (for a runner on another machine)
    broke = shared.cli("unlock", dead.id)
    assert f"pid {runner.pid}" in broke.stdout and dead.id in broke.stdout
    assert store.lock_info() is None
    # the next apply settles the interrupted clone and converges, with no duplicate
    rerun = shared.cli("apply", "--auto-approve")
    assert "stale lock" not in rerun.stderr  # it was broken, not found stale
    shared.assert_converged()  # one live clone: the interrupted call was settled, not repeated


def test_state_moves_from_a_file_to_the_database_and_back(shared: Workspace) -> None:
    assert shared.state_url is not None
    local = FileStateStore(shared.root / "jobspec.state.json")
    with local.lock(operation="apply") as session:
        for i in range(3):
            session.put(f"a{i}", make_entry(i))
        session.record_intent("a0", "clone", target="f" * 32, name="A")
    before = local.read()

    pushed = shared.cli("state", "push", "jobspec.state.json")
    assert f"lineage {before.lineage} serial {before.serial}" in pushed.stdout
    database = PostgresStateStore(shared.state_url)
    assert database.read() == before  # lineage, serial, entries and the pending intent
    again = shared.cli("state", "push", "jobspec.state.json")
    assert "already holds this state" in again.stdout

    # runners move on in the database; the old file is now older and is refused
    with database.lock(operation="apply") as session:
        session.put("a9", make_entry(9))
    stale = shared.cli("state", "push", "jobspec.state.json", expect=1)
    assert "the source is older" in stale.stderr and "--force" in stale.stderr
    assert "a9" in database.read().entries

    pulled = shared.cli("state", "pull", "copy.json")
    assert "copied 4 addresses" in pulled.stdout
    copy = FileStateStore(shared.root / "copy.json").read()
    assert copy == database.read()
    assert json.loads((shared.root / "copy.json").read_text())["serial"] == before.serial + 1

    # a state of another lineage is refused, and replaces the database's only with --force
    other = FileStateStore(shared.root / "other.json")
    with other.lock(operation="apply") as session:
        session.put("x", make_entry(7))
    foreign = shared.cli("state", "push", "other.json", expect=1)
    assert "different states" in foreign.stderr
    serial = database.read().serial
    shared.cli("state", "push", "other.json", "--force")
    after = database.read()
    assert (after.lineage, list(after.entries)) == (other.read().lineage, ["x"])
    assert after.serial == serial + 1  # the database's serial never goes back
    missing = shared.cli("state", "push", "nothing.json", expect=1)
    assert "does not exist" in missing.stderr


def test_a_database_url_in_jobspec_toml_is_used_by_every_command(shared: Workspace) -> None:
    assert shared.state_url is not None
    (shared.root / "jobspec.toml").write_text(f'state = "{shared.state_url}"\n')
    env_url, shared.state_url = shared.state_url, None  # nothing in JOBSPEC_STATE now
    shared.add_spec("finance")
    shared.cli("apply", "--auto-approve")
    listed = shared.cli("state", "list")
    assert listed.stdout.startswith("finance\t")
    assert not (shared.root / "jobspec.state.json").exists()
    assert "finance" in PostgresStateStore(env_url).read().entries
