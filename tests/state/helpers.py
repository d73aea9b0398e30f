"""Shared pieces for the state tests: entries, and child processes that hold the state."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from jobspec.files import FileSystem
from jobspec.model import OriginalPolicy, StateEntry, digest


def make_entry(i: int, *, name: str | None = None) -> StateEntry:
    applied = {
        "name": name or f"Job {i}",
        "transfer": {"destination": {"target": {"path": f"/d/{i}"}}},
    }
    return StateEntry(
        source_id=f"{i:032x}",
        clone_id=f"{i + 1_000_000:032x}",
        original=OriginalPolicy.manual,
        applied=applied,
        applied_digest=digest(applied),
    )


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    """A `python -c` child running `script` (dedented), stdout piped line by line."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def wait_for_line(child: subprocess.Popen[str], expected: str) -> None:
    """Block until the child prints `expected` (its own signal that it got there)."""
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if line != expected:
        _, err = child.communicate(timeout=30)
        raise AssertionError(f"child printed {line!r}, not {expected!r}; stderr:\n{err}")


def kill(child: subprocess.Popen[str]) -> None:
    child.kill()  # SIGKILL: no cleanup, no atexit, no finally
    child.wait(timeout=30)
    for stream in (child.stdout, child.stderr):
        if stream is not None:
            stream.close()


def state_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir()) if p.is_file()}


class SyncSeam(FileSystem):
    """The real file system with `datasync` replaced by a test's own (to count, delay or fail)."""

    def __init__(self, datasync: Callable[[int], None]) -> None:
        self._datasync = datasync

    def datasync(self, fd: int) -> None:
        self._datasync(fd)
