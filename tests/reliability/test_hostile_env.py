"""Issue 23, case 14: invalid UTF-8 in a credential or server environment variable is one
clear error naming the variable (before: a traceback when the value was first encoded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace
from tests.helpers import EmulatorHandle

pytestmark = pytest.mark.skipif(not hasattr(os, "environb"), reason="POSIX byte environments")


@pytest.mark.parametrize("name", ["JOBSPEC_PASSWORD", "JOBSPEC_USERNAME", "JOBSPEC_SERVER"])
def test_invalid_utf8_in_an_environment_variable_is_a_clear_error_naming_it(
    tmp_path: Path, emulator: EmulatorHandle, name: str
) -> None:
    ws = Workspace(root=tmp_path, emulator=emulator)
    ws.add_spec("finance", original="manual")
    env = {**os.environb, **{k.encode(): v.encode() for k, v in ws.env.items()}}
    env[name.encode()] = env[name.encode()] + b"\xff\xfe"
    process = subprocess.run(
        [sys.executable, "-m", "jobspec.cli", "plan"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = process.stderr.decode("utf-8", "replace")
    assert process.returncode == 1, stderr
    assert f"error: the environment variable {name} is not valid UTF-8 text" in stderr
    assert "Traceback" not in stderr
