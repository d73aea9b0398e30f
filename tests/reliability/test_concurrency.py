"""Several `jobspec apply` processes on one state file: one writer at a time, nothing lost.

Started together, exactly one proceeds; the others either fail at once naming the holder
(its pid and lock id) or, with `--lock-timeout`, wait for it and then find nothing left to
do. A lock left by a SIGKILLed apply is reported with its holder and taken over, or broken on
purpose with `jobspec unlock`.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess

from jobspec.state import FileStateStore
from tests.helpers import wait_for
from tests.reliability.campaign import Workspace, duplicate_clones, workload

SPECS = 30
RIVALS = 3
HOLDER = re.compile(r"pid (\d+), `apply`, since \S+, lock id ([0-9a-f-]{36})")


def start_together(ws: Workspace, *args: str) -> list[subprocess.Popen[str]]:
    return [ws.spawn("apply", "--auto-approve", *args) for _ in range(RIVALS)]


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


def clone_calls(ws: Workspace) -> int:
    count: int = ws.emulator.stats()["requests"].get("POST /v1/jobs/{id}/clone", 0)
    return count


def assert_state_is_whole(ws: Workspace) -> None:
    """The state reads back (journal replay checks every serial), with one entry per spec."""
    state = FileStateStore(ws.state_path).read()
    assert set(state.entries) == set(ws.specs)
    assert not state.pending_intents()
    assert state.serial > 0


def test_applies_started_together_one_proceeds_the_others_name_the_holder(
    ws: Workspace,
) -> None:
    workload(ws, SPECS, seed=3)
    ws.emulator.faults(latency_ms=30)  # the winner holds the lock for seconds
    processes = start_together(ws, "--concurrency", "2")
    results = {process.pid: finish(process) for process in processes}
    codes = [code for code, _, _ in results.values()]
    assert sorted(codes) == [0] + [1] * (RIVALS - 1), [r[2] for r in results.values()]
    (winner,) = [pid for pid, (code, _, _) in results.items() if code == 0]
    for code, stdout, stderr in results.values():
        assert "Traceback" not in stdout + stderr
        if code == 0:
            continue
        assert stderr.startswith("error: state ") and "is locked by" in stderr, stderr
        holder = HOLDER.search(stderr)
        assert holder is not None, stderr
        assert int(holder.group(1)) == winner
        assert "hint: wait for it (--lock-timeout SECONDS)" in stderr
        assert f"jobspec unlock {holder.group(2)}" in stderr
    assert clone_calls(ws) == SPECS  # the losers sent nothing
    ws.emulator.faults(latency_ms=0)
    assert_state_is_whole(ws)
    ws.assert_converged()


def test_applies_with_lock_timeout_wait_their_turn_and_lose_nothing(ws: Workspace) -> None:
    workload(ws, SPECS, seed=4)
    ws.emulator.faults(latency_ms=30)
    processes = start_together(ws, "--concurrency", "2", "--lock-timeout", "120")
    results = [finish(process) for process in processes]
    assert [code for code, _, _ in results] == [0] * RIVALS, [r[2] for r in results]
    waited = [stderr for _, _, stderr in results if "waiting for the state lock held by" in stderr]
    assert len(waited) >= 1
    for stderr in waited:
        holder = HOLDER.search(stderr)
        assert holder is not None and int(holder.group(1)) in {p.pid for p in processes}
    # one did the work; whoever came later planned against its state and found nothing to do
    assert sum("Apply complete" in stdout for _, stdout, _ in results) == 1
    assert sum(stdout.startswith("No changes.") for _, stdout, _ in results) == RIVALS - 1
    assert clone_calls(ws) == SPECS
    assert not duplicate_clones(ws.emulator)
    ws.emulator.faults(latency_ms=0)
    assert_state_is_whole(ws)
    ws.assert_converged()


def kill_while_holding_the_lock(ws: Workspace) -> tuple[int, str]:
    """Start an apply, SIGKILL it once it has journaled a few steps; (its pid, its lock id)."""
    journal = ws.state_path.with_name(ws.state_path.name + ".journal")
    process = ws.spawn("apply", "--auto-approve", "--concurrency", "2")
    try:
        wait_for(
            lambda: (
                (journal.exists() and journal.read_bytes().count(b"\n") >= 6)
                or process.poll() is not None
            ),
            what="the apply to journal a few steps",
        )
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGKILL)
    finally:
        process.communicate(timeout=30)
    lock = json.loads(ws.state_path.with_name(ws.state_path.name + ".lock").read_text())
    assert lock["pid"] == process.pid
    return process.pid, str(lock["id"])


def test_a_stale_lock_is_reported_with_its_holder_and_taken_over(ws: Workspace) -> None:
    workload(ws, SPECS, seed=5)
    ws.emulator.faults(latency_ms=30)
    pid, lock_id = kill_while_holding_the_lock(ws)
    ws.emulator.faults(latency_ms=0)
    rerun = ws.cli("apply", "--auto-approve")
    assert "warning: took over a stale lock: its holder root@" in rerun.stderr or (
        "took over a stale lock" in rerun.stderr
    )
    assert f"pid {pid}" in rerun.stderr and lock_id in rerun.stderr
    assert_state_is_whole(ws)
    ws.assert_converged()


def test_a_stale_lock_can_be_broken_with_unlock(ws: Workspace) -> None:
    workload(ws, SPECS, seed=6)
    ws.emulator.faults(latency_ms=30)
    pid, lock_id = kill_while_holding_the_lock(ws)
    ws.emulator.faults(latency_ms=0)
    wrong = ws.cli("unlock", "0" * 8 + "-0000-0000-0000-" + "0" * 12, expect=1)
    assert f"jobspec unlock {lock_id}" in wrong.stderr and f"pid {pid}" in wrong.stderr
    broken = ws.cli("unlock", lock_id)
    assert "broke the lock held by" in broken.stdout and f"pid {pid}" in broken.stdout
    rerun = ws.cli("apply", "--auto-approve")
    assert "took over a stale lock" not in rerun.stderr
    assert_state_is_whole(ws)
    ws.assert_converged()
