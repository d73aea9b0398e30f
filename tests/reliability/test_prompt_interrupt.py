"""Ctrl-C and SIGTERM while `jobspec apply` waits at `Apply these changes? [y/N]`.

The question blocks the event loop inside `input()`, where a cancellation scheduled on the
loop cannot run. A real `jobspec apply` process with a pseudo-terminal for stdin (apply asks
only on a terminal) is signalled once its prompt is on stdout: it must stop at once, release
the state lock, say that nothing was changed, and have made no clone.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.e2e.conftest import Workspace

PROMPT = b"Apply these changes?"


class _Reader:
    """Everything a pipe carries, gathered by a thread (a prompt ends with no newline)."""

    def __init__(self, fd: int) -> None:
        self.data = b""
        self._fd = fd
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := os.read(self._fd, 4096):
            self.data += chunk

    def join(self) -> str:
        self._thread.join(timeout=30)
        return self.data.decode("utf-8", "replace")


def _spawn_on_terminal(ws: Workspace, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """`jobspec ARGS` with a pseudo-terminal as stdin; the terminal's other end is returned."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "jobspec.cli", *args],
        cwd=ws.root,
        env={**os.environ, **ws.env},
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(terminal)
    return process, controller


def _end(process: subprocess.Popen[bytes], controller: int) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    os.close(controller)


@pytest.mark.parametrize(
    ("sent", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_at_the_question_stops_apply_and_frees_the_lock(
    ws: Workspace, sent: signal.Signals, exit_code: int
) -> None:
    ws.add_spec("finance")
    process, controller = _spawn_on_terminal(ws, "apply")
    try:
        assert process.stdout is not None and process.stderr is not None
        out, err = _Reader(process.stdout.fileno()), _Reader(process.stderr.fileno())
        deadline = time.monotonic() + 60
        while PROMPT not in out.data:
            assert process.poll() is None, err.join()
            assert time.monotonic() < deadline, "no prompt within 60 s"
            time.sleep(0.01)
        time.sleep(0.2)  # the process is blocked in input() now, not on the way to it
        assert ws.store().lock_info() is not None  # the question is asked under the lock
        process.send_signal(sent)
        process.wait(timeout=20)
        stdout, stderr = out.join(), err.join()
    finally:
        _end(process, controller)
    assert process.returncode == exit_code, stdout + stderr
    assert "Traceback" not in stdout + stderr and "Aborted!" not in stderr, stderr
    assert (
        f"interrupted by {sent.name} before anything was applied; nothing was changed, "
        "and the state lock is released." in stderr
    ), stderr
    assert "The state records every step" not in stderr
    assert ws.mutations() == 0  # no clone, no patch, no delete
    assert ws.state() == {}
    assert ws.store().lock_info() is None  # released, not left for a takeover

    again = ws.cli("apply", "--auto-approve")
    assert "stale" not in again.stderr, again.stderr
    ws.assert_converged()


def test_no_answer_at_the_question_cancels(ws: Workspace) -> None:
    """End of input (Ctrl-D) is a no: nothing is changed, and the lock is released."""
    ws.add_spec("finance")
    process, controller = _spawn_on_terminal(ws, "apply")
    try:
        os.write(controller, b"\x04")  # the terminal's end-of-file character, read at the prompt
        stdout, stderr = (text.decode() for text in process.communicate(timeout=60))
    finally:
        _end(process, controller)
    assert process.returncode == 1, stdout + stderr
    assert "error: apply cancelled; nothing was changed" in stderr, stderr
    assert "Aborted!" not in stderr and "Traceback" not in stderr
    assert ws.mutations() == 0
    assert ws.store().lock_info() is None
