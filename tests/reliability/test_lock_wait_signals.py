"""Issue 23, case 13: SIGTERM and Ctrl-C end a wait for the state lock at once.

The wait blocks the event loop, whose own handlers only schedule a cancellation; before the
fix a SIGTERM was ignored until the whole `--lock-timeout` ran out. A real `jobspec apply`
waits for a lock this test holds; its "waiting for the state lock" line is the
synchronisation, not a sleep.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from jobspec.state import FileStateStore
from tests.e2e.conftest import Workspace
from tests.helpers import EmulatorHandle


@pytest.mark.parametrize(
    ("sent", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_sigterm_or_ctrl_c_during_the_lock_wait_ends_it_at_once(
    tmp_path: Path, emulator: EmulatorHandle, sent: signal.Signals, exit_code: int
) -> None:
    ws = Workspace(root=tmp_path, emulator=emulator)
    ws.add_spec("finance", original="manual")
    with FileStateStore(ws.state_path).lock(operation="test holds it"):
        process = ws.spawn("apply", "--auto-approve", "--lock-timeout", "600")
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            if "waiting for the state lock" in line:
                break
        assert any("waiting for the state lock" in line for line in seen), seen
        process.send_signal(sent)
        stdout, rest = process.communicate(timeout=60)  # a bound for a broken run, no assertion
    stderr = "".join(seen) + rest
    assert process.returncode == exit_code, stdout + stderr
    assert "Traceback" not in stderr
    assert f"interrupted by {sent.name}" in stderr
    assert ws.mutations() == 0
    ws.cli("plan")  # nothing held: the state opens at once
