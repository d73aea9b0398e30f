"""Ctrl-C and a pipeline's cancel (SIGTERM) during `jobspec apply`.

A real `jobspec apply` process on a 30-spec workload (emulator latency 20 ms) is interrupted
once it has reported a few steps (its progress lines are the synchronisation, not a sleep).
It must exit 130 (SIGINT) or 143 (SIGTERM) with no traceback and no bare `Aborted!`, say what
it did and that re-running apply finishes the rest; leave the lock free and the state readable
with the finished steps in it; and the re-run must converge without a duplicate clone.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace
from tests.helpers import EmulatorHandle, wait_for
from tests.reliability.campaign import _Progress, _reached, duplicate_clones, workload

SPECS = 30


@pytest.mark.parametrize(
    ("sent", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_an_interrupted_apply_says_what_it_did_and_frees_the_lock(
    tmp_path: Path, emulator: EmulatorHandle, sent: signal.Signals, exit_code: int
) -> None:
    ws = Workspace(root=tmp_path, emulator=emulator)
    workload(ws, SPECS, seed=5)
    emulator.faults(latency_ms=20)
    with ws.spawn("apply", "--auto-approve") as process:
        progress = _Progress(process)
        wait_for(_reached(progress, 4, process), what="four progress lines")
        assert process.poll() is None, "the apply ended before it could be interrupted"
        process.send_signal(sent)
        process.wait(timeout=60)  # stdout (the plan, ~20 KB) fits in the pipe meanwhile
        progress.join()  # the reader thread owns stderr: communicate() would race it for lines
        assert process.stdout is not None
        stdout = process.stdout.read()
    stderr = "".join(progress.text)
    assert process.returncode == exit_code, stdout + stderr
    assert "Traceback" not in stdout + stderr and "Aborted!" not in stderr, stderr
    assert f"interrupted by {sent.name} after " in stderr, stderr
    assert "the state lock is released" in stderr
    assert "run `jobspec apply` again to finish the rest" in stderr

    emulator.faults(latency_ms=0)
    done = ws.state()  # readable: the journal was folded in when the session closed
    assert 0 < len(done) < SPECS, f"{len(done)} addresses in state"
    freed = ws.cli("state", "rm", "nothing-here", expect=1)
    assert "no state entry for nothing-here" in freed.stderr  # the lock was taken at once
    ws.cli("apply", "--auto-approve")
    ws.assert_converged()
    assert not duplicate_clones(emulator)
